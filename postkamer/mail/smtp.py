"""SMTP submission with checked addresses, verified TLS, deadlines and mapped errors.

Connect + TLS + login run under one :class:`~postkamer.mail.deadline.Deadline`,
and so does each :func:`send` (with more time for a bigger message).
"""

from __future__ import annotations

import base64
import contextlib
import smtplib
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from postkamer.mail import errors, net
from postkamer.mail.deadline import Deadline, watching
from postkamer.mail.net import ConnectOptions, ServerSettings


class CheckedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose socket comes from ``net.open_connection``.

    For ``security="ssl"`` the socket is wrapped with the configured context
    right away (implicit TLS); STARTTLS uses ``self._host`` (the host *name*)
    for certificate checks, like implicit TLS does.  Use :func:`connect`.
    """

    def __init__(
        self, server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
    ) -> None:
        self._options = options
        self._deadline = deadline
        self._implicit_tls = server.security == net.SECURITY_SSL
        # An explicit local_hostname avoids smtplib's socket.getfqdn(), which
        # does a reverse DNS lookup that can hang; the real EHLO name is set
        # from the connected socket in _get_socket().
        super().__init__(local_hostname="localhost", timeout=options.timeout)
        self._host = server.host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        opts = self._options
        self._port = port
        sock = net.open_connection(
            host, port, opts.timeout, opts.allow_private, opts.resolver, self._deadline
        )
        address = sock.getsockname()[0]
        # RFC 5321 address literal: no dependency on (possibly absent) reverse DNS.
        self.local_hostname = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
        if not self._implicit_tls:
            return sock
        try:
            return opts.ssl_context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise


def _xoauth2_auth_object(username: str, token: str) -> Callable[..., str]:
    initial = f"user={username}\x01auth=Bearer {token}\x01\x01"

    def respond(challenge: bytes | None = None) -> str:
        # On failure an XOAUTH2 server sends a 334 with a JSON error; the
        # client must answer with an empty line to get the final 5xx.
        return initial if challenge is None else ""

    return respond


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            encoded = base64.b64encode(secret.encode()).decode()
            text = text.replace(encoded, "***")
    return text


def _disconnected(
    exc: smtplib.SMTPServerDisconnected, host: str, timeout: float
) -> errors.MailError:
    # smtplib turns a read time-out into SMTPServerDisconnected("Connection
    # unexpectedly closed: timed out"); the TimeoutError survives as __context__.
    if isinstance(exc.__context__, TimeoutError):
        return errors.Timeout(f"{host} did not answer within {timeout:g} s")
    return errors.ProtocolError(f"{host} closed the connection: {exc}")


def _reply_text(exc: smtplib.SMTPResponseException) -> str:
    msg = exc.smtp_error
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{exc.smtp_code} {text}"


def _plain_utf8(conn: CheckedSMTP, server: ServerSettings) -> None:
    # smtplib encodes AUTH data as ASCII; SASL PLAIN is UTF-8 (RFC 4616).
    mechanisms = conn.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in mechanisms:
        raise errors.AuthUnavailable(
            f"{server.host} offers no AUTH PLAIN for a non-ASCII user name or password"
        )
    assert server.password is not None
    blob = f"\0{server.username}\0{server.password}".encode()
    code, resp = conn.docmd("AUTH", "PLAIN " + base64.b64encode(blob).decode("ascii"))
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, resp)


def _authenticate(conn: CheckedSMTP, server: ServerSettings) -> None:
    if not conn.has_extn("auth"):
        raise errors.AuthUnavailable(f"{server.host} offers no AUTH (after TLS)")
    mechanisms = conn.esmtp_features.get("auth", "").upper().split()
    try:
        if server.oauth2_token:
            if "XOAUTH2" not in mechanisms:
                raise errors.AuthUnavailable(f"{server.host} does not offer AUTH XOAUTH2")
            code, resp = conn.auth(
                "XOAUTH2",
                _xoauth2_auth_object(server.username, server.oauth2_token),
                initial_response_ok=True,
            )
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, resp)
        elif server.password is not None:
            try:
                if server.password.isascii() and server.username.isascii():
                    conn.login(server.username, server.password)
                else:
                    _plain_utf8(conn, server)
            finally:
                # smtplib keeps the credentials on the object; drop them.
                conn.user = conn.password = ""
        else:
            raise errors.AuthUnavailable("neither a password nor an OAuth2 token was given")
    except smtplib.SMTPAuthenticationError as exc:
        detail = _scrub(_reply_text(exc), server.password, server.oauth2_token)
        if 400 <= exc.smtp_code < 500:
            raise errors.ProtocolError(f"{server.host} deferred the login: {detail}") from None
        raise errors.AuthFailed(f"login as {server.username!r} refused: {detail}") from None
    except UnicodeError:
        # A non-ASCII user name or token cannot go into XOAUTH2 via smtplib;
        # the exception itself would quote the secret, so it is not chained.
        raise errors.AuthUnavailable(f"{server.host}: credentials are not ASCII") from None
    except smtplib.SMTPNotSupportedError:
        raise errors.AuthUnavailable(f"{server.host} offers no AUTH") from None
    except smtplib.SMTPException as exc:
        # smtplib raises a bare SMTPException for "no suitable mechanism".
        if type(exc) is smtplib.SMTPException:
            raise errors.AuthUnavailable(f"{server.host}: {exc}") from None
        raise


def connect(
    server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
) -> CheckedSMTP:
    """Return an SMTP connection that is connected, secured, EHLO'd and logged in.

    ``security="starttls"`` requires STARTTLS in the EHLO answer and never
    continues in plaintext.  A password logs in with smtplib's preferred
    mechanism (PLAIN/LOGIN); an ``oauth2_token`` uses AUTH XOAUTH2.  All of it
    must finish within ``deadline`` (default: a new one of
    ``options.operation_seconds``), whatever the server drips.

    Raises ``HostNotFound``, ``PrivateHostRefused``, ``ConnectionRefused``,
    ``Timeout``, ``CertificateUntrusted``, ``TLSFailed``, ``StartTLSUnavailable``,
    ``AuthUnavailable``, ``AuthFailed`` or ``ProtocolError``.  Messages never
    contain the secret.
    """
    if deadline is None:
        deadline = options.new_deadline(f"{server.host}:{server.port}")
    conn = CheckedSMTP(server, options, deadline)
    with net.translate_errors(server.host, server.port, options.timeout), deadline:
        try:
            try:
                code, msg = conn.connect(server.host, server.port)
                if code != 220:
                    raise errors.ProtocolError(f"{server.host} greeted with {code} {msg!r}")
                conn.ehlo()
                if server.security == net.SECURITY_STARTTLS:
                    if not conn.has_extn("starttls"):
                        raise errors.StartTLSUnavailable(f"{server.host} does not offer STARTTLS")
                    conn.starttls(context=options.ssl_context)
                    conn.ehlo()
                _authenticate(conn, server)
                if deadline.fired:
                    raise errors.Timeout(f"{server.host}: the login took too long")
            except smtplib.SMTPServerDisconnected as exc:
                raise _disconnected(exc, server.host, options.timeout) from None
            except smtplib.SMTPResponseException as exc:
                detail = _scrub(_reply_text(exc), server.password, server.oauth2_token)
                raise errors.ProtocolError(f"{server.host}: {detail}") from None
            except smtplib.SMTPException as exc:
                raise errors.ProtocolError(f"{server.host}: {exc}") from None
        except BaseException:
            close_quietly(conn)
            raise
    return conn


def close_quietly(conn: smtplib.SMTP) -> None:
    """Close ``conn`` without raising; returns None."""
    with contextlib.suppress(Exception):
        conn.close()


def check_login(
    server: ServerSettings, options: ConnectOptions, deadline: Deadline | None = None
) -> None:
    """Connect, log in and QUIT, all within ``deadline`` (default: a new one of
    ``options.operation_seconds``); return None on success.

    Raises the same errors as :func:`connect`.
    """
    if deadline is None:
        deadline = options.new_deadline(f"{server.host}:{server.port}")
    conn = connect(server, options, deadline)
    try:
        with watching(deadline, conn.sock):
            conn.quit()
    except (smtplib.SMTPException, OSError, errors.MailError):
        # Logged in fine; a failing or slow QUIT does not make the settings wrong.
        close_quietly(conn)


def _refusal(code: int, detail: str, **attrs: object) -> errors.MailError:
    cls = errors.MessageDeferred if 400 <= code < 500 else errors.MessageRefused
    exc = cls(detail)
    for name, value in attrs.items():
        setattr(exc, name, value)
    return exc


def _bounded(conn: smtplib.SMTP, size: int) -> contextlib.AbstractContextManager[object]:
    # One deadline for the whole transaction, longer for a bigger message; a
    # connection already closed has no socket to watch (smtplib then says so).
    options = getattr(conn, "_options", None)
    if conn.sock is None or not isinstance(options, ConnectOptions):
        return contextlib.nullcontext()
    host = getattr(conn, "_host", "server")
    return watching(options.new_deadline(f"{host}:{getattr(conn, '_port', 0)}", size), conn.sock)


def send(conn: smtplib.SMTP, from_addr: str, recipients: list[str], raw: bytes) -> None:
    """Send ``raw`` (a complete RFC 5322 message) to ``recipients``; return None.

    Raises ``MessageDeferred`` (4xx) or ``MessageRefused`` (5xx) when the
    sender, all recipients or the data are refused.  When only some
    recipients are refused the message HAS gone to the others; the raised
    error then has ``delivered_to_others=True``.  Every refusal error has
    ``refused``: recipient -> (code, text), and ``stage``: "sender",
    "recipients" or "data".  Connection problems raise ``Timeout`` or
    ``ProtocolError``.
    """
    host = getattr(conn, "_host", "") or "server"
    port = getattr(conn, "_port", 0)
    timeout = conn.timeout if isinstance(conn.timeout, (int, float)) else 0.0
    with net.translate_errors(host, port, timeout), _bounded(conn, len(raw)):
        try:
            refused = conn.sendmail(from_addr, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            all_refused = _decode_refused(exc.recipients)
            code = min(code for code, _ in all_refused.values())
            raise _refusal(
                code,
                f"all recipients refused: {all_refused}",
                refused=all_refused,
                delivered_to_others=False,
                stage="recipients",
            ) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            what = "sender" if isinstance(exc, smtplib.SMTPSenderRefused) else "message"
            raise _refusal(
                exc.smtp_code,
                f"{what} refused: {_reply_text(exc)}",
                refused={r: (exc.smtp_code, _reply_text(exc)) for r in recipients},
                delivered_to_others=False,
                stage="sender" if what == "sender" else "data",
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise _disconnected(exc, host, timeout) from None
        except smtplib.SMTPResponseException as exc:
            raise errors.ProtocolError(f"{host}: {_reply_text(exc)}") from None
    if refused:
        some = _decode_refused(refused)
        code = min(code for code, _ in some.values())
        raise _refusal(
            code,
            f"some recipients refused: {some}",
            refused=some,
            delivered_to_others=True,
            stage="recipients",
        )


def _decode_refused(refused: dict) -> dict[str, tuple[int, str]]:
    return {
        rcpt: (code, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg))
        for rcpt, (code, msg) in refused.items()
    }


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit` achieved: the envelope sender actually used ("" is the
    null sender), and the recipients the server refused while it accepted the
    message for the others (recipient -> (code, server text))."""

    envelope_from: str
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    null_sender_refused: bool = False


def submit(
    server: ServerSettings,
    options: ConnectOptions,
    *,
    envelope_from: str,
    recipients: Sequence[str],
    raw: bytes,
    fallback_from: str | None = None,
) -> Submitted:
    """Connect, log in, send ``raw`` to ``recipients`` and QUIT; return :class:`Submitted`.

    ``envelope_from=""`` sends with ``MAIL FROM:<>``; when the server refuses that
    sender and ``fallback_from`` is given, the message goes out from
    ``fallback_from`` on the same connection instead.

    Raises :class:`errors.TemporaryFailure` subclasses for what may pass
    (``MessageDeferred`` for 4xx answers, ``ConnectionRefused``, ``Timeout``,
    ``ProtocolError``) and :class:`errors.PermanentFailure` subclasses for what
    will not (``MessageRefused`` for 5xx answers, ``AuthFailed``, ``HostNotFound``,
    ``CertificateUntrusted``…). The server's own words are in the exception's
    detail (for the log); they never contain the secret.
    """
    conn = connect(server, options)
    used, null_refused = envelope_from, False
    refused: dict[str, tuple[int, str]] = {}
    try:
        try:
            try:
                send(conn, envelope_from, list(recipients), raw)
            except (errors.MessageRefused, errors.MessageDeferred) as exc:
                sender_refused = getattr(exc, "stage", "") == "sender"
                if not (sender_refused and envelope_from == "" and fallback_from):
                    raise
                used, null_refused = fallback_from, True
                send(conn, fallback_from, list(recipients), raw)
        except (errors.MessageRefused, errors.MessageDeferred) as exc:
            if not getattr(exc, "delivered_to_others", False):
                raise
            refused = dict(exc.refused)  # type: ignore[attr-defined]
    except BaseException:
        close_quietly(conn)
        raise
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        # The message was accepted; a failing QUIT does not undo that.
        close_quietly(conn)
    return Submitted(used, refused, null_refused)
