"""Build protocol settings from a Mailbox, and the plain-language connection test."""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from postkamer.crypto import SecretUnreadable
from postkamer.mail import imap, smtp
from postkamer.mail.errors import MailError
from postkamer.mail.net import ConnectOptions, ServerSettings, make_ssl_context
from postkamer.mailboxes.models import Mailbox, MailboxType

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None, _mtime: float) -> ssl.SSLContext:
    return make_ssl_context(ca_file)


def ssl_context() -> ssl.SSLContext:
    """The verifying TLS context for mail servers, built once per CA file (and
    again when the file changes): loading the system's CA store takes ~35 ms,
    which every sent message paid twice (SMTP and IMAP)."""
    ca_file = settings.POSTKAMER_CA_FILE
    try:
        mtime = os.stat(ca_file).st_mtime if ca_file else 0.0
    except OSError:
        return make_ssl_context(ca_file)  # raises the error that names the file
    return _ssl_context(ca_file, mtime)


def connect_options(timeout: float | None = None) -> ConnectOptions:
    """Options for outgoing mail connections, from the settings (read at call time)."""
    return ConnectOptions(
        ssl_context=ssl_context(),
        timeout=timeout if timeout is not None else settings.POSTKAMER_MAIL_TIMEOUT,
        allow_private=settings.POSTKAMER_ALLOW_PRIVATE_HOSTS,
    )


def imap_settings(mailbox: Mailbox) -> ServerSettings:
    return ServerSettings(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        security=mailbox.imap_security,
        username=mailbox.imap_username,
        password=mailbox.imap_password,
    )


def smtp_settings(mailbox: Mailbox) -> ServerSettings:
    return ServerSettings(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        security=mailbox.smtp_security,
        username=mailbox.effective_smtp_username,
        password=mailbox.effective_smtp_password,
    )


def describe_error(error: MailError) -> str:
    """The user-facing sentence for a protocol error, in the active language."""
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
    text = texts.get(error.code, _("The connection failed."))
    if error.code == "folder_missing" and getattr(error, "folder", None):
        text = _("The folder '%(folder)s' no longer exists on the server.") % {
            "folder": error.folder  # type: ignore[attr-defined]
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
    whatever the servers drip."""
    if mailbox.type == MailboxType.OFFICE365:
        return [
            ServerResult(
                "office365",
                False,
                "not_connected",
                _("Office 365 mailboxes are tested after connecting with Microsoft."),
            )
        ]
    options = connect_options()
    checks = {"imap": (imap.check_login, imap_settings), "smtp": (smtp.check_login, smtp_settings)}
    outcomes: dict[str, Exception | None] = {}
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {}
        for server, (check, make_settings) in checks.items():
            try:
                futures[server] = pool.submit(_check, check, make_settings(mailbox), options)
            except SecretUnreadable as exc:
                outcomes[server] = exc
        for server, future in futures.items():
            outcomes[server] = future.result()
    return [_result(server, outcomes[server], mailbox) for server in checks]
