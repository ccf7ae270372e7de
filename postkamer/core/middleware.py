"""Request and response hardening that every page shares: the client's real address
behind a trusted proxy, and the default Content-Security-Policy."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# Set by a proxy in front of us; from anyone else they are lies a client can tell.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_trusted_proxy(value: str | None) -> bool:
    """True when ``value`` (an address) is in ``POSTKAMER_TRUSTED_PROXIES``."""
    ip = _address(value or "")
    return ip is not None and any(ip in network for network in settings.TRUSTED_PROXIES)


def forwarded_client(peer: str, forwarded_for: str) -> str:
    """Return the client address behind the trusted proxy ``peer``.

    ``X-Forwarded-For`` is read from the right: each trusted proxy appended the
    address it got the request from, and the first address that is not one of
    our proxies is the client. Everything left of it was written by the client
    and proves nothing.
    """
    client = peer
    for hop in reversed([part for part in forwarded_for.split(",") if part.strip()]):
        ip = _address(hop)
        if ip is None:
            break
        client = str(ip)
        if not is_trusted_proxy(client):
            break
    return client


class TrustedProxyMiddleware:
    """Make ``REMOTE_ADDR`` the real client and trust ``X-Forwarded-Proto`` only
    from a trusted proxy.

    First in the chain, so that the login throttle, the HTTPS redirect and the
    CSRF check all see the same truth. Requests from anyone else lose the
    forwarding headers: Django's ``SECURE_PROXY_SSL_HEADER`` would otherwise take
    a client's word that it used HTTPS.
    """

    _warned = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        peer = meta.get("REMOTE_ADDR", "")
        if is_trusted_proxy(peer):
            if meta.get("HTTP_X_FORWARDED_FOR"):
                meta["REMOTE_ADDR"] = forwarded_client(peer, meta["HTTP_X_FORWARDED_FOR"])
        else:
            if meta.get("HTTP_X_FORWARDED_FOR") and not TrustedProxyMiddleware._warned:
                # Most likely a reverse proxy nobody told us about: then every client
                # has the proxy's address and shares one login throttle.
                TrustedProxyMiddleware._warned = True
                logger.warning(
                    "A request from %s carries X-Forwarded-For, but %s is not in "
                    "POSTKAMER_TRUSTED_PROXIES; if it is your reverse proxy, add it there.",
                    peer,
                    peer,
                )
            for header in FORWARDED_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Give every response ``settings.CONTENT_SECURITY_POLICY`` unless it set its own.

    A view with stricter needs (the sandboxed message body) sets the header itself
    and keeps it. The policy allows no inline script, so a script that slipped
    into a page through a template mistake still does not run.
    """

    HEADER = "Content-Security-Policy"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.HEADER not in response.headers:
            response.headers[self.HEADER] = settings.CONTENT_SECURITY_POLICY
        return response
