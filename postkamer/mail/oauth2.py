"""OAuth2 tokens for XOAUTH2 mailboxes, for any identity platform (Microsoft Entra ID,
Google): the authorization URL with PKCE, the code exchange, the refresh, and the
client-credentials grant of app-only access.

Authlib's client (on httpx2) does the protocol; this module chooses how it talks:

- **Trust.** TLS is verified with the ``ssl.SSLContext`` the caller passes (the one
  the mail connections use: system CAs plus ``POSTKAMER_CA_FILE``), and the HTTP
  client is made with ``trust_env=False``. With ``trust_env`` on, an HTTP library
  reads ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and friends from the environment,
  and some of them then ignore the trust they were given; a server where those
  variables are set would silently trust something else than the mail connections.
- **Time.** Each read has ``timeout``, and the whole token request has a total
  deadline (:class:`postkamer.mail.deadline.Deadline`, as every IMAP and SMTP
  operation): an endpoint that drips one byte at a time is cut off. The watchdog
  needs the socket, which the HTTP client keeps to itself; httpcore's documented
  ``trace`` request extension reports each new connection, and a request hook
  installs it.
- **Errors** become mail errors with a stable code (``postkamer.mail.errors``):
  ``invalid_grant`` means someone must sign in again (:class:`OAuthReconnect`); an
  endpoint that cannot be reached or answers 5xx/429 is temporary
  (:class:`OAuthUnavailable`); an unknown tenant, a refused app and every other
  refusal are permanent. No message ever contains a token, code or secret.

No Django here (``tests/mail/test_no_django.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.httpx_client import OAuth2Client

from postkamer.mail import errors
from postkamer.mail.deadline import Deadline

#: Used when a token answer has no ``expires_in`` (RFC 6749 leaves it optional).
DEFAULT_LIFETIME = 3600.0
#: Server-side errors that say "try again later" (RFC 6749 §4.1.2.1).
_TEMPORARY_ERRORS = {"temporarily_unavailable", "server_error"}
#: Microsoft's code for "tenant not found" inside ``error_description``.
_TENANT_NOT_FOUND = ("AADSTS90002", "AADSTS90013")


@dataclass(frozen=True)
class Endpoints:
    """One identity platform as this installation's app uses it."""

    provider: str  # "microsoft" or "google": named in errors and their sentences
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class HttpOptions:
    """How to reach the identity platform: the verifying TLS context and the
    time-out of each step (connect, send, read)."""

    ssl_context: ssl.SSLContext
    timeout: float = 10.0
    #: The total seconds of one token request (default: twice ``timeout``).
    deadline: float | None = None

    @property
    def total_seconds(self) -> float:
        return self.deadline if self.deadline is not None else 2 * self.timeout


@dataclass(frozen=True)
class Tokens:
    """A token answer. ``refresh_token`` is None when the platform kept the old one
    (or for client credentials); ``account`` is the signed-in account from the ID
    token ("" without one)."""

    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(default=None, repr=False)
    account: str = ""


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what the callback must match: ``state`` and
    the PKCE ``code_verifier`` stay on the server."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


def _watched_by(deadline: Deadline) -> Callable[[httpx2.Request], None]:
    """A request hook that makes ``deadline`` watch every connection the request
    opens (reported by the ``trace`` extension once the TCP connection stands)."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                deadline.attach(sock)

    def hook(request: httpx2.Request) -> None:
        request.extensions["trace"] = trace

    return hook


def _client(
    endpoints: Endpoints,
    http: HttpOptions,
    scope: str | None = None,
    deadline: Deadline | None = None,
) -> OAuth2Client:
    hooks = {"request": [_watched_by(deadline)]} if deadline is not None else {}
    return OAuth2Client(
        endpoints.client_id,
        endpoints.client_secret,
        scope=scope,
        token_endpoint_auth_method="client_secret_post",
        code_challenge_method="S256",
        verify=http.ssl_context,
        trust_env=False,
        timeout=httpx2.Timeout(http.timeout),
        follow_redirects=False,
        event_hooks=hooks,
    )


def authorization_request(
    endpoints: Endpoints,
    *,
    redirect_uri: str,
    scopes: Iterable[str],
    extra: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """Return the authorization URL (authorization-code flow with PKCE S256) with a
    new random ``state`` and code verifier. ``extra`` adds parameters such as
    ``prompt`` or Google's ``access_type=offline``. Makes no network call."""
    state = generate_token(32)
    verifier = generate_token(64)  # 64 characters: RFC 7636 allows 43 to 128
    client = OAuth2Client(endpoints.client_id, code_challenge_method="S256", trust_env=False)
    try:
        url, _state = client.create_authorization_url(
            endpoints.authorize_url,
            state=state,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(scopes),
            **dict(extra or {}),
        )
    finally:
        client.close()
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


def exchange_code(
    endpoints: Endpoints,
    http: HttpOptions,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> Tokens:
    """Exchange an authorization code (with its PKCE verifier) for tokens.

    Raises the ``OAuth*`` errors of :mod:`postkamer.mail.errors` (a used or expired
    code is ``OAuthReconnect``) or ``CertificateUntrusted``.
    """
    deadline = _deadline(endpoints, http)
    with _client(endpoints, http, deadline=deadline) as client:
        answer = _call(
            endpoints,
            "",
            deadline,
            lambda: client.fetch_token(
                endpoints.token_url,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            ),
            secrets=(code, code_verifier),
        )
    return _tokens(endpoints, answer)


def refresh(
    endpoints: Endpoints, http: HttpOptions, *, refresh_token: str, scopes: Iterable[str] = ()
) -> Tokens:
    """Get a new access token with ``refresh_token``; the answer may carry a new
    (rotated) refresh token, which then replaces the old one.

    Raises ``OAuthReconnect`` when the refresh token is no longer valid, the other
    ``OAuth*`` errors, or ``CertificateUntrusted``.
    """
    scope = " ".join(scopes) or None
    deadline = _deadline(endpoints, http)
    with _client(endpoints, http, scope=scope, deadline=deadline) as client:
        answer = _call(
            endpoints,
            "",
            deadline,
            lambda: client.refresh_token(endpoints.token_url, refresh_token=refresh_token),
            secrets=(refresh_token,),
        )
    return _tokens(endpoints, answer)


def client_credentials(
    endpoints: Endpoints, http: HttpOptions, *, scope: str, tenant: str = ""
) -> Tokens:
    """Get an app-only access token (client-credentials grant) for ``scope``;
    ``tenant`` is only named in an ``OAuthTenantUnknown`` error.

    Raises the ``OAuth*`` errors or ``CertificateUntrusted``.
    """
    deadline = _deadline(endpoints, http)
    with _client(endpoints, http, scope=scope, deadline=deadline) as client:
        answer = _call(
            endpoints,
            tenant,
            deadline,
            lambda: client.fetch_token(endpoints.token_url, grant_type="client_credentials"),
            secrets=(),
        )
    return _tokens(endpoints, answer)


def account_from_id_token(id_token: str) -> str:
    """The signed-in account named by an OpenID Connect ID token ("" when none).

    The signature is not checked: the token came straight from the token endpoint
    over verified TLS, in answer to our authenticated request, which OpenID Connect
    Core §3.1.3.7 accepts instead; and the account is only shown, never used to
    decide anything.
    """
    parts = id_token.split(".")
    if len(parts) < 2:
        return ""
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return ""
    if not isinstance(claims, dict):
        return ""
    for name in ("preferred_username", "email", "upn", "unique_name"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:254]
    return ""


def _tokens(endpoints: Endpoints, answer: Mapping[str, Any]) -> Tokens:
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise errors.OAuthUnavailable(endpoints.provider, "token answer without an access token")
    try:
        lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    refresh_token = answer.get("refresh_token")
    id_token = answer.get("id_token")
    return Tokens(
        access_token=access,
        expires_in=max(lifetime, 0.0),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        account=account_from_id_token(id_token) if isinstance(id_token, str) else "",
    )


T = TypeVar("T")


def _deadline(endpoints: Endpoints, http: HttpOptions) -> Deadline:
    return Deadline(http.total_seconds, f"the {endpoints.provider} token endpoint")


def _call(
    endpoints: Endpoints,
    tenant: str,
    deadline: Deadline,
    request: Callable[[], T],
    secrets: Iterable[str],
) -> T:
    """Run one token request within ``deadline`` and turn whatever goes wrong into a
    mail error."""
    provider = endpoints.provider
    hidden = [s for s in (*secrets, endpoints.client_secret) if s]
    started = time.monotonic()
    try:
        with deadline:
            return request()
    except errors.Timeout:
        raise errors.OAuthUnavailable(
            provider,
            f"{provider} token endpoint did not finish within {deadline.seconds:g} s",
        ) from None
    except AuthlibOAuthError as exc:
        error = str(exc.error or "")
        description = _scrub(str(exc.description or ""), hidden)[:300]
        detail = f"{provider} token endpoint: {error}: {description}"
        if error == "invalid_grant":
            raise errors.OAuthReconnect(provider, detail) from None
        if error in _TEMPORARY_ERRORS:
            raise errors.OAuthUnavailable(provider, detail) from None
        if error == "invalid_tenant" or any(mark in description for mark in _TENANT_NOT_FOUND):
            raise errors.OAuthTenantUnknown(provider, tenant, detail) from None
        if error == "invalid_client":
            raise errors.OAuthClientRefused(provider, detail) from None
        # Only a plain word goes into the stored parameters.
        word = error if error.replace("_", "").isalnum() and len(error) <= 40 else "unknown"
        raise errors.OAuthRefused(provider, word, detail) from None
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        detail = f"{provider} token endpoint answered HTTP {status}"
        if status >= 500 or status == 429:
            raise errors.OAuthUnavailable(provider, detail) from None
        raise errors.OAuthRefused(provider, f"http_{status}", detail) from None
    except httpx2.TimeoutException:
        waited = time.monotonic() - started
        raise errors.OAuthUnavailable(
            provider, f"{provider} token endpoint did not answer within {waited:.0f} s"
        ) from None
    except httpx2.TransportError as exc:
        cause = _ssl_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "not trusted"
            raise errors.CertificateUntrusted(
                f"certificate of the {provider} token endpoint not trusted: {reason}"
            ) from None
        raise errors.OAuthUnavailable(
            provider, f"{provider} token endpoint unreachable: {type(exc).__name__}"
        ) from None
    except ValueError:
        # A 2xx answer that is not a JSON object: a proxy's page, not a token.
        raise errors.OAuthUnavailable(
            provider, f"{provider} token endpoint gave an answer that is not JSON"
        ) from None


def _ssl_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None or isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
