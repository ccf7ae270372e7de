"""Build protocol settings from a Mailbox, and the plain-language connection test."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from postkamer.crypto import SecretUnreadable
from postkamer.mail import imap, smtp
from postkamer.mail.errors import MailError
from postkamer.mail.net import ConnectOptions, ServerSettings
from postkamer.mailboxes import oauth, providers
from postkamer.mailboxes.models import Mailbox
from postkamer.mailboxes.trust import ssl_context

__all__ = [
    "ServerResult",
    "connect_options",
    "describe_code",
    "describe_error",
    "imap_identity",
    "imap_settings",
    "run_connection_test",
    "smtp_settings",
    "ssl_context",
]

log = logging.getLogger(__name__)


def connect_options(timeout: float | None = None) -> ConnectOptions:
    """Options for outgoing mail connections, from the settings (read at call time)."""
    return ConnectOptions(
        ssl_context=ssl_context(),
        timeout=timeout if timeout is not None else settings.POSTKAMER_MAIL_TIMEOUT,
        allow_private=settings.POSTKAMER_ALLOW_PRIVATE_HOSTS,
    )


def _oauth_settings(mailbox: Mailbox, server: str) -> ServerSettings:
    # Where the provider's mailboxes live, logged in with XOAUTH2 and a fresh token.
    provider = providers.for_mailbox(mailbox)
    host, port = provider.imap if server == "imap" else provider.smtp
    return ServerSettings(
        host=host,
        port=port,
        security=providers.security_for(port),
        username=oauth.login_name(mailbox, provider),
        oauth2_token=oauth.access_token(mailbox),
    )


def imap_settings(mailbox: Mailbox) -> ServerSettings:
    """How to log in to the mailbox's IMAP server; an OAuth2 mailbox gets a fresh
    access token (which may refresh it: raises ``MailError`` then)."""
    if mailbox.uses_oauth:
        return _oauth_settings(mailbox, "imap")
    return ServerSettings(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        security=mailbox.imap_security,
        username=mailbox.imap_username,
        password=mailbox.imap_password,
    )


def smtp_settings(mailbox: Mailbox) -> ServerSettings:
    """How to log in to the mailbox's SMTP server (see :func:`imap_settings`)."""
    if mailbox.uses_oauth:
        return _oauth_settings(mailbox, "smtp")
    return ServerSettings(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        security=mailbox.smtp_security,
        username=mailbox.effective_smtp_username,
        password=mailbox.effective_smtp_password,
    )


def imap_identity(mailbox: Mailbox) -> str:
    """What a kept-open IMAP connection of ``mailbox`` must match to be reused: the
    server and user, plus the password as stored (its ciphertext changes with it,
    and comparing it needs no decryption) or a digest of the current access token
    (getting it refreshes a stale one first, so a connection never outlives the
    token it logged in with)."""
    if mailbox.uses_oauth:
        server = imap_settings(mailbox)
        secret = hashlib.sha256((server.oauth2_token or "").encode()).hexdigest()
        parts: tuple[object, ...] = (server.host, server.port, server.security, server.username)
    else:
        secret = mailbox.imap_password_enc
        parts = (mailbox.imap_host, mailbox.imap_port, mailbox.imap_security, mailbox.imap_username)
    return "\0".join(str(p) for p in (*parts, secret))


def describe_error(error: MailError) -> str:
    """The user-facing sentence for a protocol error, in the active language."""
    return describe_code(error.code, error.params)


def _describe_oauth(code: str, params: dict[str, object]) -> str | None:
    values = {
        "provider": providers.TITLES.get(str(params.get("provider")), str(params.get("provider"))),
        "tenant": params.get("tenant") or "",
        "error": params.get("error") or "",
    }
    texts = {
        "oauth_reconnect": _("Connection with %(provider)s expired: reconnect"),
        "oauth_not_connected": _(
            "The mailbox is not connected with %(provider)s yet: use 'Connect with "
            "%(provider)s' on the mailbox page."
        ),
        "oauth_not_configured": _(
            "This installation has no %(provider)s app yet: the administrator of Postkamer "
            "must register one first."
        ),
        "oauth_unavailable": _(
            "%(provider)s could not be reached to sign in. Postkamer tries again later."
        ),
        "oauth_tenant_unknown": _(
            "%(provider)s does not know the tenant '%(tenant)s'. Check the tenant ID or domain."
        ),
        "oauth_client_refused": _(
            "%(provider)s refused this installation's app (client ID or secret). Ask the "
            "administrator of Postkamer to check them."
        ),
        "oauth_refused": _("%(provider)s refused access (%(error)s)."),
    }
    text = texts.get(code)
    return None if text is None else text % values


def describe_code(code: str, params: dict[str, object] | None = None) -> str:
    """The user-facing sentence for a mail error ``code`` with its ``params``, in the
    active language."""
    params = params or {}
    oauth_text = _describe_oauth(code, params)
    if oauth_text is not None:
        return oauth_text
    texts = {
        "auth_failed": _("The user name or password is wrong."),
        "host_not_found": _("The server name cannot be found. Check the spelling."),
        "connection_refused": _(
            "The server refused the connection. Check the server name and port."
        ),
        "timeout": _("The server did not answer in time. Try again later or check the port."),
        "certificate_untrusted": _(
            "The server's certificate is not trusted, so the connection was not made."
        ),
        "tls_failed": _("A secure connection with the server could not be set up."),
        "no_starttls": _(
            "The server offers no STARTTLS, so no secure connection is possible on this port."
        ),
        "private_host": _("This server is on an internal network address, which is not allowed."),
        "protocol_error": _("The server gave an unexpected answer."),
        "folder_missing": _("A folder no longer exists on the server."),
        "auth_unavailable": _("The server offers no way to log in that Postkamer can use."),
        "message_refused": _("The server refused the message."),
        "message_deferred": _("The server cannot take the message right now; try again later."),
    }
    text = texts.get(code, _("The connection failed."))
    if code == "folder_missing" and params.get("folder"):
        text = _("The folder '%(folder)s' no longer exists on the server.") % {
            "folder": params["folder"]
        }
    return text


@dataclass
class ServerResult:
    server: str  # "imap" or "smtp"
    ok: bool
    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"server": self.server, "ok": self.ok, "code": self.code, "message": self.message}


def _check(
    check: Callable[[ServerSettings, ConnectOptions], None],
    server_settings: ServerSettings,
    options: ConnectOptions,
) -> Exception | None:
    # Runs in a thread: no translation here (the active language is per thread).
    try:
        check(server_settings, options)
    except MailError as error:
        return error
    return None


def _result(server: str, outcome: Exception | None, mailbox: Mailbox) -> ServerResult:
    if isinstance(outcome, SecretUnreadable):
        return ServerResult(
            server,
            False,
            "secret_unreadable",
            _("The stored password cannot be read. Enter the password again."),
        )
    if isinstance(outcome, MailError):
        log.info("connection test of mailbox %s (%s): %s", mailbox.pk, server, outcome.code)
        return ServerResult(server, False, outcome.code, describe_error(outcome))
    return ServerResult(server, True, "ok", _("Connection OK"))


def run_connection_test(mailbox: Mailbox) -> list[ServerResult]:
    """Log in to IMAP and SMTP and return one plain-language result per server.

    Both logins run at the same time, each within the mail deadline (twice
    ``POSTKAMER_MAIL_TIMEOUT``), so the web request answers within one deadline
    whatever the servers drip. An OAuth2 mailbox gets its access token first (one
    for both); when that fails, both results say why."""
    options = connect_options()
    checks = {"imap": (imap.check_login, imap_settings), "smtp": (smtp.check_login, smtp_settings)}
    outcomes: dict[str, Exception | None] = {}
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {}
        for server, (check, make_settings) in checks.items():
            try:
                futures[server] = pool.submit(_check, check, make_settings(mailbox), options)
            except (SecretUnreadable, MailError) as exc:
                outcomes[server] = exc
        for server, future in futures.items():
            outcomes[server] = future.result()
            if outcomes[server] is not None:
                oauth.login_refused(mailbox, outcomes[server])
    return [_result(server, outcomes[server], mailbox) for server in checks]
