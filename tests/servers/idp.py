"""A local OAuth2 identity platform over HTTPS, shaped like Microsoft Entra ID (and
Google's two endpoints), for the Office 365 / Google tests.

- ``GET /{tenant}/oauth2/v2.0/authorize`` and ``GET /google/auth``: a sign-in page (a
  form with the account and "Accepteren" / "Weigeren"); ``POST /decide`` sends the
  browser back to the ``redirect_uri`` with a code, or with ``error=access_denied``.
  :meth:`IdentityProvider.sign_in` does the same without a browser.
- ``POST /{tenant}/oauth2/v2.0/token`` and ``POST /google/token``: the
  authorization-code grant (PKCE S256 checked, codes single use), the refresh grant
  (refresh tokens rotate unless ``rotate`` is off; a used or revoked one gives
  ``invalid_grant``), and client credentials (only in a known tenant, scope
  ``https://outlook.office365.com/.default``). An unknown tenant gets Microsoft's
  ``AADSTS90002`` answer, a wrong client secret ``invalid_client``; ``down`` makes the
  endpoint answer 503 like a platform having a bad day.
- The mail servers ask it whether a token is live: Dovecot's introspection endpoint
  (``tests/servers/dovecot.py``) through :meth:`login_name`, the SMTP server through
  :meth:`allows`. Access tokens expire by this server's clock (``access_lifetime``).

The certificate comes from the test CA, so Postkamer trusts it through
``POSTKAMER_CA_FILE`` only. Every request is counted in ``requests``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.servers.tls import TestCA

MS_APP_SCOPE = "https://outlook.office365.com/.default"
ANY_TENANT = ("organizations", "common")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    account: str
    tenant: str
    scope: str
    expires: float


@dataclass
class _Refresh:
    client_id: str
    account: str
    tenant: str
    scope: str
    valid: bool = True


@dataclass
class _Access:
    account: str  # "" for an app-only token
    tenant: str
    expires: float
    valid: bool = True


@dataclass
class Request:
    """One call to the token endpoint, for tests that count."""

    grant_type: str
    tenant: str
    status: int


@dataclass
class IdentityProvider:
    tls: TestCA
    client_id: str = "postkamer-test-app"
    client_secret: str = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(16))
    #: Known tenants -> the mailboxes the app may open there with app-only tokens.
    tenants: dict[str, list[str]] = field(default_factory=dict)
    #: Person -> the shared mailbox their token opens (models "full access" in Exchange).
    delegates: dict[str, str] = field(default_factory=dict)
    access_lifetime: float = 3600.0
    rotate: bool = True
    down: bool = False
    #: Seconds between the bytes of a token answer's body (0: all at once).
    drip: float = 0.0
    requests: list[Request] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict, repr=False)
    _pending: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _refresh: dict[str, _Refresh] = field(default_factory=dict, repr=False)
    _access: dict[str, _Access] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
        server = _Server(("127.0.0.1", 0), _Handler)
        # The handshake happens in the handler's thread, not in accept().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        server.idp = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Back to a platform that works, with a fresh request count."""
        self.access_lifetime, self.rotate, self.down, self.drip = 3600.0, True, False, 0.0
        self.requests.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def google_auth_url(self) -> str:
        return f"{self.url}/google/auth"

    @property
    def google_token_url(self) -> str:
        return f"{self.url}/google/token"

    # -- what the tests change ----------------------------------------------------------
    def add_tenant(self, tenant: str, *mailboxes: str) -> None:
        self.tenants.setdefault(tenant, []).extend(mailboxes)

    def revoke(self, account: str) -> None:
        """Consent withdrawn / password reset: every refresh token of ``account``
        stops working (its access tokens run out by themselves)."""
        with self._lock:
            for grant in self._refresh.values():
                if grant.account == account:
                    grant.valid = False

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        with self._lock:
            for token in self._access.values():
                token.expires = 0

    def refresh_tokens_of(self, account: str) -> list[str]:
        """The live refresh tokens of ``account`` (to check what Postkamer stores)."""
        with self._lock:
            return [t for t, g in self._refresh.items() if g.account == account and g.valid]

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out (to grep logs and pages for)."""
        with self._lock:
            return [*self._access, *self._refresh]

    def grants(self, grant_type: str) -> list[Request]:
        return [r for r in self.requests if r.grant_type == grant_type]

    # -- the mail servers' questions ----------------------------------------------------
    def _live(self, token: str) -> _Access | None:
        with self._lock:
            found = self._access.get(token)
        if found is None or not found.valid or found.expires < time.time():
            return None
        return found

    def login_name(self, token: str) -> str | None:
        """Dovecot's introspection: whom a live token logs in as, else None."""
        found = self._live(token)
        if found is None:
            return None
        if found.account:
            return self.delegates.get(found.account, found.account)
        mailboxes = self.tenants.get(found.tenant) or []
        return mailboxes[0] if mailboxes else None

    def allows(self, token: str, user: str) -> bool:
        """The SMTP server's question: may ``token`` log in as ``user``?"""
        found = self._live(token)
        if found is None:
            return False
        if found.account:
            return user in (found.account, self.delegates.get(found.account))
        return user in (self.tenants.get(found.tenant) or [])

    # -- the browser's part, without a browser ------------------------------------------
    def sign_in(self, authorize_url: str, account: str, *, accept: bool = True) -> str:
        """What the sign-in page does when ``account`` accepts (or refuses): return
        the URL the browser is sent back to. Raises ValueError for a bad request."""
        parts = urlsplit(authorize_url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        request_id = self._check_authorize(parts.path, query)
        return self._decide(request_id, account, accept)

    def _check_authorize(self, path: str, query: dict[str, str]) -> str:
        problems = []
        if query.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problems.append("PKCE S256 required")
        if not query.get("redirect_uri") or not query.get("state"):
            problems.append("redirect_uri and state required")
        if problems:
            raise ValueError(", ".join(problems))
        request_id = secrets.token_urlsafe(12)
        with self._lock:
            self._pending[request_id] = {**query, "tenant": _tenant_of(path)}
        return request_id

    def _decide(self, request_id: str, account: str, accept: bool) -> str:
        with self._lock:
            query = self._pending.pop(request_id)
        back = {"state": query["state"]}
        if not accept:
            back.update(error="access_denied", error_description="The user declined.")
        else:
            code = "code-" + secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = _Code(
                    client_id=query["client_id"],
                    redirect_uri=query["redirect_uri"],
                    challenge=query["code_challenge"],
                    account=account,
                    tenant=query["tenant"],
                    scope=query.get("scope", ""),
                    expires=time.time() + 300,
                )
            back["code"] = code
        return f"{query['redirect_uri']}?{urlencode(back)}"

    # -- the token endpoint -------------------------------------------------------------
    def token(self, path: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple:
        tenant = _tenant_of(path)
        grant_type = form.get("grant_type", "")
        status, body = self._token(tenant, grant_type, form, basic)
        with self._lock:
            self.requests.append(Request(grant_type, tenant, status))
        return status, body

    def _token(self, tenant: str, grant_type: str, form: dict[str, str], basic) -> tuple:
        if self.down:
            return 503, None
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or not hmac.compare_digest(secret, self.client_secret):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: bad secret",
            }
        google = tenant == "google"
        specific = tenant not in ANY_TENANT and not google
        if specific and tenant not in self.tenants:
            return 400, {
                "error": "invalid_request",
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
            }
        if grant_type == "authorization_code":
            return self._code_grant(tenant, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(tenant, form)
        if grant_type == "client_credentials" and specific:
            if form.get("scope") != MS_APP_SCOPE:
                return 400, {"error": "invalid_scope", "error_description": "scope"}
            return 200, self._issue("", tenant, refresh=None)
        return 400, {"error": "unsupported_grant_type"}

    def _code_grant(self, tenant: str, form: dict[str, str]) -> tuple:
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # single use
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            code is None
            or code.expires < time.time()
            or code.redirect_uri != form.get("redirect_uri")
            or not hmac.compare_digest(code.challenge, challenge)
            or code.tenant != tenant
        ):
            return 400, {"error": "invalid_grant", "error_description": "AADSTS70008: bad code"}
        grant = _Refresh(self.client_id, code.account, tenant, code.scope)
        return 200, self._issue(code.account, tenant, refresh=grant, id_token=True)

    def _refresh_grant(self, tenant: str, form: dict[str, str]) -> tuple:
        token = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.get(token)
            usable = grant is not None and grant.valid and grant.tenant == tenant
            if usable and self.rotate:
                grant.valid = False  # a rotated refresh token works once
        if not usable:
            return 400, {
                "error": "invalid_grant",
                "error_description": "AADSTS700082: The refresh token has expired or was revoked.",
            }
        assert grant is not None
        if self.rotate:
            fresh = _Refresh(grant.client_id, grant.account, grant.tenant, grant.scope)
            return 200, self._issue(grant.account, tenant, refresh=fresh)
        return 200, self._issue(grant.account, tenant, refresh=None)

    def _issue(self, account: str, tenant: str, *, refresh: _Refresh | None, id_token=False):
        access = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = _Access(account, tenant, time.time() + self.access_lifetime)
        body: dict[str, object] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(self.access_lifetime),
        }
        if refresh is not None:
            token = "rt-" + secrets.token_urlsafe(24)
            with self._lock:
                self._refresh[token] = refresh
            body["refresh_token"] = token
        if id_token:
            body["id_token"] = self._id_token(account)
        return body

    def _id_token(self, account: str) -> str:
        def part(value: dict) -> str:
            raw = json.dumps(value).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = part({"alg": "HS256", "typ": "JWT"})
        claims = part({"aud": self.client_id, "preferred_username": account, "email": account})
        signature = hmac.new(
            self.client_secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256
        ).digest()
        return f"{head}.{claims}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _tenant_of(path: str) -> str:
    segment = path.strip("/").split("/", 1)[0]
    return "google" if segment == "google" else segment


_PAGE = """<!doctype html><html lang="nl"><head><meta charset="utf-8">
<title>Aanmelden</title></head><body><h1>Aanmelden bij de testomgeving</h1>
<form method="post" action="/decide">
<input type="hidden" name="request" value="{request}">
<label>Account <input name="account" value="{hint}"></label>
<button type="submit" name="answer" value="accept">Accepteren</button>
<button type="submit" name="answer" value="refuse">Weigeren</button>
</form></body></html>"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that refuse our certificate (a test does that) are no news


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def idp(self) -> IdentityProvider:
        return self.server.idp  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not parts.path.endswith(("/authorize", "/auth")):
            self._send(404, b"not found", "text/plain")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            request_id = self.idp._check_authorize(parts.path, query)
        except ValueError as exc:
            self._send(400, str(exc).encode(), "text/plain")
            return
        page = _PAGE.format(
            request=html.escape(request_id), hint=html.escape(query.get("login_hint", ""))
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        if path == "/decide":
            target = self.idp._decide(
                form.get("request", ""), form.get("account", ""), form.get("answer") == "accept"
            )
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not path.endswith("/token"):
            self._send(404, b"not found", "text/plain")
            return
        status, body = self.idp.token(path, form, self._basic())
        if body is None:
            self._send(status, b"Service Unavailable", "text/plain")
        else:
            self._send(status, json.dumps(body).encode(), "application/json", self.idp.drip)

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _send(self, status: int, body: bytes, content_type: str, drip: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not drip:
            self.wfile.write(body)
            return
        with contextlib.suppress(OSError):  # the client may give up first
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(drip)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean
