"""Password logins through the login throttle."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from postkamer.accounts import throttle


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend with every password check counted by the throttle.

    Being the authentication backend, it covers every caller of ``authenticate()``:
    the login page, the admin's login page and anything added later. When the
    throttle refuses, PermissionDenied makes ``authenticate()`` stop and return
    None; the request is marked so the login form can say why.
    """

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        found: list[Any] = []

        def check() -> bool:
            user = ModelBackend.authenticate(
                self, request, username=username, password=password, **kwargs
            )
            found.append(user)
            return user is not None

        try:
            throttle.check_password(str(username), throttle.client_address(request), check)
        except throttle.Throttled:
            throttle.mark_refused(request)
            raise PermissionDenied from None
        return found[0]
