"""IMAP connections on top of IMAPClient, with checked addresses, TLS and deadlines.

:class:`ImapConnection` is an ``imapclient.IMAPClient`` whose underlying
``imaplib.IMAP4`` gets its socket from :func:`postkamer.mail.net.open_connection`
(the checked address, never re-resolved).  We create that ``imaplib.IMAP4``
ourselves (IMAPClient's ``_create_IMAP4`` hook, hence the tight version pin and
``tests/mail/test_imap.py``) and keep it as ``conn.imap4``, so the fast bulk
reader uses imaplib's documented ``send``/``readline``/``read`` on the same
connection instead of IMAPClient's private attributes.

Connect + TLS + login run under one :class:`~postkamer.mail.deadline.Deadline`,
and so does each command run through :func:`bounded`.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime

import imapclient
from imapclient import exceptions as imap_exc

from postkamer.mail import errors, net
from postkamer.mail.deadline import Deadline, watching
from postkamer.mail.net import ConnectOptions, ServerSettings

#: RFC 6154 special-use flags we recognise, in their canonical spelling.
SPECIAL_USE_FLAGS = ("\\Sent", "\\Junk", "\\Drafts", "\\Trash", "\\Archive", "\\All", "\\Flagged")
_SPECIAL_USE_BY_LOWER = {flag.lower(): flag for flag in SPECIAL_USE_FLAGS}
_NOT_SELECTABLE = {"\\noselect", "\\nonexistent"}


class _CheckedIMAP4(imaplib.IMAP4):
    """``imaplib.IMAP4`` whose socket comes from ``net.open_connection`` and,
    for implicit TLS, is wrapped with our context verified against the host
    *name* (not the connected IP)."""

    def __init__(
        self,
        host: str,
        port: int,
        options: ConnectOptions,
        implicit_tls: bool,
        deadline: Deadline | None,
    ) -> None:
        self._options = options
        self._implicit_tls = implicit_tls
        self._deadline = deadline
        super().__init__(host, port, timeout=options.timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        opts = self._options
        sock = net.open_connection(
            self.host, self.port, opts.timeout, opts.allow_private, opts.resolver, self._deadline
        )
        if not self._implicit_tls:
            return sock
        try:
            return opts.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class ImapConnection(imapclient.IMAPClient):
    """An IMAPClient connected through :func:`net.open_connection`.

    Use :func:`connect` rather than instantiating this directly: the
    constructor only opens the connection and reads the greeting; it does not
    do STARTTLS or log in.  Constructor exceptions are raw socket/ssl/imaplib
    exceptions.
    """

    #: The ``imaplib.IMAP4`` this client talks through (set while connecting).
    imap4: imaplib.IMAP4

    def __init__(
        self, server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
    ) -> None:
        self._options = options
        self._deadline = deadline
        super().__init__(
            server.host,
            server.port,
            ssl=server.security == net.SECURITY_SSL,
            ssl_context=options.ssl_context,
            timeout=options.timeout,
        )

    @property
    def options(self) -> ConnectOptions:
        """The options this connection was made with."""
        return self._options

    def _create_IMAP4(self) -> imaplib.IMAP4:
        self.imap4 = _CheckedIMAP4(
            self.host, self.port, self._options, implicit_tls=self.ssl, deadline=self._deadline
        )
        self._deadline = None  # only the connect itself runs under it
        return self.imap4


def bounded(conn: ImapConnection, deadline: Deadline | None = None) -> ContextManager[Deadline]:
    """Run the block (one command) under ``deadline``, or a new one of the
    connection's ``operation_seconds``; leaving it raises ``Timeout`` when it passed."""
    if deadline is None:
        deadline = conn.options.new_deadline(f"{conn.host}:{conn.port}")
    return watching(deadline, conn.imap4.socket())


@dataclass(frozen=True)
class Folder:
    """One mailbox as returned by LIST.

    ``special_use`` is one of :data:`SPECIAL_USE_FLAGS` or None.
    """

    name: str
    delimiter: str | None
    flags: tuple[str, ...]
    special_use: str | None
    selectable: bool


def _scrub(text: str, *secrets: str | None) -> str:
    # Servers may echo input in their error text; never let a secret through.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _login(conn: ImapConnection, server: ServerSettings) -> None:
    try:
        if server.oauth2_token:
            if not conn.has_capability("AUTH=XOAUTH2"):
                raise errors.AuthUnavailable(f"{server.host} does not offer AUTH=XOAUTH2")
            conn.oauth2_login(server.username, server.oauth2_token)
        elif server.password is not None:
            if conn.has_capability("LOGINDISABLED"):
                raise errors.AuthUnavailable(f"{server.host} does not allow LOGIN here")
            if server.password.isascii() and server.username.isascii():
                conn.login(server.username, server.password)
            elif conn.has_capability("AUTH=PLAIN"):
                # LOGIN arguments are sent as ASCII by imaplib; SASL PLAIN
                # is UTF-8 by definition (RFC 4616).
                conn.plain_login(server.username, server.password)
            else:
                raise errors.AuthUnavailable(
                    f"{server.host} offers no AUTH=PLAIN for a non-ASCII user name or password"
                )
        else:
            raise errors.AuthUnavailable("neither a password nor an OAuth2 token was given")
    except imap_exc.LoginError as exc:
        detail = _scrub(str(exc), server.password, server.oauth2_token)
        if isinstance(exc.__context__, imaplib.IMAP4.abort):
            # IMAPClient wraps a dropped connection during login in LoginError too.
            raise errors.ProtocolError(f"{server.host} dropped the login: {detail}") from None
        if "[UNAVAILABLE]" in detail.upper():
            # RFC 5530: a temporary back-end failure, not wrong credentials.
            raise errors.ProtocolError(f"{server.host} cannot log in now: {detail}") from None
        raise errors.AuthFailed(f"login as {server.username!r} refused: {detail}") from None


def connect(
    server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
) -> ImapConnection:
    """Return an IMAP connection that is connected, secured and logged in.

    ``security="ssl"`` uses implicit TLS; ``"starttls"`` requires STARTTLS and
    never falls back to plaintext.  A password logs in with LOGIN, an
    ``oauth2_token`` with AUTHENTICATE XOAUTH2 (the token wins when both are set).
    All of it must finish within ``deadline`` (default: a new one of
    ``options.operation_seconds``), whatever the server drips.

    Raises ``HostNotFound``, ``PrivateHostRefused``, ``ConnectionRefused``,
    ``Timeout``, ``CertificateUntrusted``, ``TLSFailed``, ``StartTLSUnavailable``,
    ``AuthUnavailable``, ``AuthFailed`` or ``ProtocolError``
    (all :class:`errors.MailError`).  Messages never contain the secret.
    """
    if deadline is None:
        deadline = options.new_deadline(f"{server.host}:{server.port}")
    with net.translate_errors(server.host, server.port, options.timeout), deadline:
        try:
            conn = ImapConnection(server, options, deadline)
        except imaplib.IMAP4.error as exc:
            raise errors.ProtocolError(f"bad greeting from {server.host}: {exc}") from None
        try:
            try:
                if server.security == net.SECURITY_STARTTLS:
                    if not conn.has_capability("STARTTLS"):
                        raise errors.StartTLSUnavailable(f"{server.host} does not offer STARTTLS")
                    conn.starttls(options.ssl_context)
                _login(conn, server)
            except imaplib.IMAP4.error as exc:
                # LoginError is handled in _login; what is left is the server
                # aborting or answering STARTTLS/CAPABILITY with NO/BAD.
                raise errors.ProtocolError(f"{server.host}: {exc}") from None
            if deadline.fired:
                raise errors.Timeout(f"{server.host}: the login took too long")
        except BaseException:
            _close_quietly(conn)
            raise
    return conn


def _close_quietly(conn: ImapConnection) -> None:
    # Already failing: the first error is the one worth reporting.
    with contextlib.suppress(Exception):
        conn.shutdown()


def check_login(
    server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
) -> None:
    """Connect, log in and log out, all within ``deadline`` (default: a new one
    of ``options.operation_seconds``); return None on success.

    Raises the same errors as :func:`connect`.
    """
    if deadline is None:
        deadline = options.new_deadline(f"{server.host}:{server.port}")
    conn = connect(server, options, deadline)
    try:
        with (
            net.translate_errors(server.host, server.port, options.timeout),
            bounded(conn, deadline),
        ):
            conn.logout()
    except (imaplib.IMAP4.error, errors.MailError):
        # Logged in fine; a grumpy or slow LOGOUT does not make the settings wrong.
        _close_quietly(conn)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def list_folders(conn: ImapConnection, deadline: Deadline | None = None) -> list[Folder]:
    """Return all folders from LIST, with RFC 6154 special-use flags, within
    ``deadline`` (default: a new one for this command).

    Names are decoded from modified UTF-7.  Raises ``Timeout`` or
    ``ProtocolError`` (connection lost or LIST refused).
    """
    host, port = conn.host, conn.port
    timeout = conn.options.timeout
    with net.translate_errors(host, port, timeout), bounded(conn, deadline):
        try:
            rows = conn.list_folders()
        except imaplib.IMAP4.error as exc:
            raise errors.ProtocolError(f"LIST failed on {host}: {exc}") from None
    folders = []
    for raw_flags, raw_delim, raw_name in rows:
        flags = tuple(_text(f) for f in raw_flags)
        lowered = [f.lower() for f in flags]
        special = next(
            (_SPECIAL_USE_BY_LOWER[f] for f in lowered if f in _SPECIAL_USE_BY_LOWER), None
        )
        folders.append(
            Folder(
                name=_text(raw_name),
                delimiter=_text(raw_delim) if raw_delim is not None else None,
                flags=flags,
                special_use=special,
                selectable=not any(f in _NOT_SELECTABLE for f in lowered),
            )
        )
    return folders


@dataclass(frozen=True)
class Appended:
    """Where an APPENDed message went: ``uidvalidity`` and ``uid`` come from the
    server's APPENDUID answer (RFC 4315 UIDPLUS) and are None without it."""

    folder: str
    uidvalidity: int | None
    uid: int | None


_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


def append(
    conn: ImapConnection,
    folder: str,
    raw: bytes,
    *,
    flags: tuple[str, ...] = ("\\Seen",),
    msg_time: datetime | None = None,
) -> Appended:
    """APPEND ``raw`` to ``folder`` with ``flags``; return an :class:`Appended`.

    Raises ``FolderMissing`` when the server says the folder does not exist
    (``[TRYCREATE]``), ``Timeout`` or ``ProtocolError`` otherwise.
    """
    host, port = conn.host, conn.port
    with net.translate_errors(host, port, conn._options.timeout):
        try:
            response = conn.append(folder, raw, flags=flags, msg_time=msg_time)
        except imaplib.IMAP4.abort as exc:
            raise errors.ProtocolError(f"APPEND to {folder!r} on {host} broke off: {exc}") from None
        except imaplib.IMAP4.error as exc:
            text = str(exc)
            if "TRYCREATE" in text.upper() or "NONEXISTENT" in text.upper():
                raise errors.FolderMissing(folder) from None
            raise errors.ProtocolError(f"APPEND to {folder!r} refused by {host}: {text}") from None
    answer = response if isinstance(response, bytes) else str(response).encode()
    found = _APPENDUID_RE.search(answer)
    if found is None:
        return Appended(folder, None, None)
    return Appended(folder, int(found.group(1)), int(found.group(2)))


def uids_with_message_id(conn: ImapConnection, folder: str, message_id: str) -> list[int]:
    """Return the UIDs in ``folder`` whose Message-ID header contains ``message_id``.

    Opens the folder read-only and closes it again. Raises ``FolderMissing``,
    ``Timeout`` or ``ProtocolError``.
    """
    host, port = conn.host, conn.port
    with net.translate_errors(host, port, conn._options.timeout):
        try:
            try:
                conn.select_folder(folder, readonly=True)
            except imaplib.IMAP4.error as exc:
                if isinstance(exc, imaplib.IMAP4.abort):
                    raise
                raise errors.FolderMissing(folder) from None
            try:
                uids = conn.search(["HEADER", "Message-ID", message_id])
            finally:
                with contextlib.suppress(imaplib.IMAP4.error):
                    conn.close_folder()
        except imaplib.IMAP4.error as exc:
            raise errors.ProtocolError(f"SEARCH in {folder!r} on {host} failed: {exc}") from None
    return sorted(int(uid) for uid in uids)
