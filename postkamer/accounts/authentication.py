"""API token authentication through the login throttle."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from postkamer.accounts import throttle


class ThrottledTokenAuthentication(TokenAuthentication):
    """``Authorization: Token KEY``, refused with 429 for an address that sent too
    many wrong tokens (see ``throttle`` for why tokens are counted after the check)."""

    def authenticate(self, request: Any) -> Any:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # no token offered: nothing to count
        address = throttle.client_address(request)
        if throttle.address_locked(address):
            raise exceptions.Throttled(detail=str(throttle.MESSAGE))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.count_address_failure(address)
            raise
