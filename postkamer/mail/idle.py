"""Waiting for new mail with IMAP IDLE (RFC 2177), on asyncio.

One :class:`IdleSession` holds one connection with the INBOX opened read-only
(``EXAMINE``) and reports what the server announces while idling: ``EXISTS``
(the message count grew: new mail), ``EXPUNGE``, ``RECENT`` and ``BYE``. A
worker process keeps thousands of these in one event loop, so a connection must
cost little: no thread, no stream buffers of its own, and TLS through
``ssl.SSLObject`` on memory BIOs (asyncio's own TLS transport keeps a 256 KB read
buffer per connection, 2.5 GB for 10,000 of them).

Why not a library: ``aioimaplib`` (the asyncio IMAP client in use) is GPL-3.0,
has no STARTTLS, and connects by host name itself, so the checked-address rule
of :mod:`postkamer.mail.net` could not hold. IDLE needs a small part of IMAP:
greeting, CAPABILITY, STARTTLS, LOGIN or AUTHENTICATE, EXAMINE, IDLE/DONE and
LOGOUT; that part is here.

The rules of :mod:`postkamer.mail.net` apply: the host is resolved once, internal
addresses are refused unless allowed, the socket connects to the checked address,
and TLS verifies the certificate against the host name with the configured
context. Connect, TLS and login together, and each command after it, run under
``options.operation_seconds``; waiting in IDLE is bounded by the re-issue time.
Nothing here imports Django.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from postkamer.mail import errors, net
from postkamer.mail.net import ConnectOptions, ServerSettings

#: RFC 2177 §3: servers may log out a client idle for 30 minutes, so IDLE is
#: ended and issued again before that.
REISSUE_SECONDS = 25 * 60.0
#: A line longer than this (literals not counted) is a broken or hostile server.
MAX_LINE = 64 * 1024
#: Literals in untagged answers while idling are small (flags, a header at most).
MAX_LITERAL = 1024 * 1024
_READ_SIZE = 16 * 1024

_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_UNTAGGED_NUMBER = re.compile(rb"^\* (\d+) ([A-Za-z]+)")
_CODE = re.compile(rb"\[([A-Za-z-]+)(?: ([^\]]*))?\]")


class IdleUnsupported(errors.PermanentFailure):
    """The server does not offer IDLE: the mailbox must be polled."""

    code = "idle_unsupported"


@dataclass(frozen=True)
class Event:
    """Something the server announced: ``kind`` is ``exists``, ``expunge`` or
    ``recent`` with its ``number``."""

    kind: str
    number: int


@dataclass
class Mailbox:
    """What EXAMINE said about the INBOX (updated while idling)."""

    exists: int = 0
    uidvalidity: int | None = None
    uidnext: int | None = None


class _Channel:
    """Bytes over a non-blocking socket, plain or TLS.

    TLS runs on ``SSLContext.wrap_bio``: the handshake and the records go through
    two memory BIOs that this class feeds from and drains to the socket, so each
    connection holds only OpenSSL's own state.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop = loop
        self._sock = sock
        self._tls: ssl.SSLObject | None = None
        self._incoming: ssl.MemoryBIO | None = None
        self._outgoing: ssl.MemoryBIO | None = None

    async def _flush(self) -> None:
        assert self._outgoing is not None
        data = self._outgoing.read()
        if data:
            await self._loop.sock_sendall(self._sock, data)

    async def _feed(self) -> None:
        assert self._incoming is not None
        chunk = await self._loop.sock_recv(self._sock, _READ_SIZE)
        if not chunk:
            self._incoming.write_eof()
        else:
            self._incoming.write(chunk)

    async def recv(self) -> bytes:
        """The next bytes from the server; ``b""`` when it closed the connection."""
        if self._tls is None:
            return await self._loop.sock_recv(self._sock, _READ_SIZE)
        while True:
            try:
                return self._tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                await self._flush()  # a key update may have something to say
                await self._feed()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def send(self, data: bytes) -> None:
        if self._tls is None:
            await self._loop.sock_sendall(self._sock, data)
            return
        self._tls.write(data)
        await self._flush()

    async def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        """Do the TLS handshake, verifying the certificate against ``host``."""
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._feed()
        await self._flush()
        self._tls = tls

    def close(self) -> None:
        self._sock.close()


def _keepalive(sock: socket.socket) -> None:
    # A peer that vanished (a server crash, a NAT that forgot us) sends nothing,
    # and IDLE waits 25 minutes: the kernel's probes notice it in about two.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def _open_socket(
    loop: asyncio.AbstractEventLoop, server: ServerSettings, options: ConnectOptions
) -> socket.socket:
    """A socket connected to a checked address of the server (see net.open_connection)."""
    infos = await loop.run_in_executor(
        None,
        net.resolve_checked,
        server.host,
        server.port,
        options.allow_private,
        options.resolver,
    )
    last: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        _keepalive(sock)
        return sock
    where = f"{server.host}:{server.port}"
    if isinstance(last, ConnectionRefusedError):
        raise errors.ConnectionRefused(f"connection to {where} refused")
    raise errors.ConnectionRefused(f"could not connect to {where}: {last}")


def _quoted(text: str) -> bytes:
    return b'"' + text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass
class _Reply:
    """A tagged answer: ``status`` (OK/NO/BAD), its text, and the untagged lines before it."""

    status: str
    text: bytes
    untagged: list[bytes] = field(default_factory=list)


class IdleSession:
    """One logged-in connection with the INBOX examined; see :func:`open_session`."""

    def __init__(self, channel: _Channel, server: ServerSettings, options: ConnectOptions) -> None:
        self._channel = channel
        self._server = server
        self._options = options
        self._buffer = bytearray()
        self._tag = 0
        self.capabilities: frozenset[str] = frozenset()
        self.inbox = Mailbox()
        self.closed = False

    # -- reading ---------------------------------------------------------------
    async def _fill(self) -> None:
        data = await self._channel.recv()
        if not data:
            raise errors.ProtocolError(f"{self._server.host} closed the connection")
        self._buffer += data

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _line(self) -> bytes:
        """One response line without CRLF; literals ({n}) are read into it."""
        parts: list[bytes] = []
        while True:
            end = self._buffer.find(b"\r\n")
            while end < 0:
                if len(self._buffer) > MAX_LINE:
                    raise errors.ProtocolError(f"{self._server.host} sent an overlong line")
                await self._fill()
                end = self._buffer.find(b"\r\n")
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            parts.append(line)
            literal = _LITERAL.search(line)
            if literal is None:
                return b"\r\n".join(parts)
            size = int(literal.group(1))
            if size > MAX_LITERAL:
                raise errors.ProtocolError(f"{self._server.host} sent a literal of {size} bytes")
            parts.append(await self._read_exactly(size))

    # -- commands --------------------------------------------------------------
    def _next_tag(self) -> bytes:
        self._tag += 1
        return b"P%d" % self._tag

    async def _command(
        self,
        text: bytes,
        on_continuation: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> _Reply:
        """Send ``text`` with a new tag and read until its tagged answer."""
        tag = self._next_tag()
        await self._channel.send(tag + b" " + text + b"\r\n")
        untagged: list[bytes] = []
        while True:
            line = await self._line()
            if line.startswith(tag + b" "):
                status, _, rest = line[len(tag) + 1 :].partition(b" ")
                reply = _Reply(status.decode("ascii", "replace").upper(), rest, untagged)
                self._note(reply.text)
                return reply
            if line.startswith(b"+"):
                if on_continuation is None:
                    raise errors.ProtocolError(f"{self._server.host} asked for unexpected input")
                await on_continuation(line)
                continue
            if line.upper().startswith(b"* BYE"):
                raise errors.ProtocolError(
                    f"{self._server.host} ended the session: {line[6:].decode(errors='replace')}"
                )
            untagged.append(line)
            self._note(line)

    def _note(self, line: bytes) -> None:
        """Keep what a line says about capabilities and the INBOX."""
        number = _UNTAGGED_NUMBER.match(line)
        if number is not None and number.group(2).upper() == b"EXISTS":
            self.inbox.exists = int(number.group(1))
        upper = line.upper()
        if upper.startswith(b"* CAPABILITY "):
            self._set_capabilities(line[13:])
        for code in _CODE.finditer(line):
            name = code.group(1).upper()
            value = code.group(2) or b""
            if name == b"CAPABILITY":
                self._set_capabilities(value)
            elif name == b"UIDVALIDITY" and value.isdigit():
                self.inbox.uidvalidity = int(value)
            elif name == b"UIDNEXT" and value.isdigit():
                self.inbox.uidnext = int(value)

    def _set_capabilities(self, text: bytes) -> None:
        self.capabilities = frozenset(text.decode("ascii", "replace").upper().split())

    def _check(self, reply: _Reply, what: str) -> None:
        if reply.status != "OK":
            detail = _scrub(
                reply.text.decode(errors="replace"),
                self._server.password,
                self._server.oauth2_token,
            )
            raise errors.ProtocolError(f"{self._server.host} refused {what}: {detail}")

    # -- the session -----------------------------------------------------------
    async def _greet(self) -> bool:
        """Read the greeting; returns True when the server says PREAUTH."""
        line = await self._line()
        upper = line.upper()
        if upper.startswith(b"* BYE"):
            raise errors.ProtocolError(f"{self._server.host} refused the connection")
        if not upper.startswith((b"* OK", b"* PREAUTH")):
            raise errors.ProtocolError(f"bad greeting from {self._server.host}")
        self._note(line)
        return upper.startswith(b"* PREAUTH")

    async def _capability(self) -> None:
        self._check(await self._command(b"CAPABILITY"), "CAPABILITY")

    async def _starttls(self) -> None:
        if "STARTTLS" not in self.capabilities:
            raise errors.StartTLSUnavailable(f"{self._server.host} does not offer STARTTLS")
        self._check(await self._command(b"STARTTLS"), "STARTTLS")
        if self._buffer:
            # Bytes sent before TLS and read after it would be a man in the middle's.
            raise errors.ProtocolError(f"{self._server.host} sent data before TLS started")
        await self._channel.start_tls(self._options.ssl_context, self._server.host)
        self.capabilities = frozenset()
        await self._capability()  # RFC 3501 §6.2.1: capabilities may change after TLS

    async def _authenticate(self, mechanism: bytes, response: bytes) -> _Reply:
        encoded = base64.b64encode(response)
        sent = False

        async def answer(_line: bytes) -> None:
            nonlocal sent
            # The first "+" asks for the response; a later one carries the
            # server's error (XOAUTH2) and wants an empty line before NO.
            await self._channel.send(b"\r\n" if sent else encoded + b"\r\n")
            sent = True

        if "SASL-IR" in self.capabilities:
            sent = True
            return await self._command(b"AUTHENTICATE " + mechanism + b" " + encoded, answer)
        return await self._command(b"AUTHENTICATE " + mechanism, answer)

    async def _login(self) -> None:
        server = self._server
        if server.oauth2_token:
            if "AUTH=XOAUTH2" not in self.capabilities:
                raise errors.AuthUnavailable(f"{server.host} does not offer AUTH=XOAUTH2")
            token = f"user={server.username}\x01auth=Bearer {server.oauth2_token}\x01\x01"
            reply = await self._authenticate(b"XOAUTH2", token.encode())
        elif server.password is not None:
            if "LOGINDISABLED" in self.capabilities:
                raise errors.AuthUnavailable(f"{server.host} does not allow LOGIN here")
            plain_ok = all(
                value.isascii() and "\r" not in value and "\n" not in value
                for value in (server.username, server.password)
            )
            if plain_ok:
                reply = await self._command(
                    b"LOGIN " + _quoted(server.username) + b" " + _quoted(server.password)
                )
            elif "AUTH=PLAIN" in self.capabilities:
                # LOGIN is ASCII; SASL PLAIN is UTF-8 by definition (RFC 4616).
                response = f"\0{server.username}\0{server.password}".encode()
                reply = await self._authenticate(b"PLAIN", response)
            else:
                raise errors.AuthUnavailable(
                    f"{server.host} offers no AUTH=PLAIN for a non-ASCII user name or password"
                )
        else:
            raise errors.AuthUnavailable("neither a password nor an OAuth2 token was given")
        if reply.status != "OK":
            detail = _scrub(
                reply.text.decode(errors="replace"), server.password, server.oauth2_token
            )
            if "[UNAVAILABLE]" in detail.upper():
                raise errors.ProtocolError(f"{server.host} cannot log in now: {detail}")
            raise errors.AuthFailed(f"login as {server.username!r} refused: {detail}")
        if not any(b"CAPABILITY" in line.upper() for line in [reply.text, *reply.untagged]):
            await self._capability()  # the capabilities after login are the ones that count

    async def _examine(self) -> None:
        self.inbox = Mailbox()
        self._check(await self._command(b"EXAMINE INBOX"), "EXAMINE INBOX")

    async def start(self) -> None:
        """Greeting, STARTTLS, login, the IDLE check and EXAMINE INBOX."""
        preauth = await self._greet()
        if not self.capabilities:
            await self._capability()
        if self._server.security == net.SECURITY_STARTTLS:
            if preauth:
                raise errors.StartTLSUnavailable(
                    f"{self._server.host} skipped the login, so STARTTLS is not possible"
                )
            await self._starttls()
        if not preauth:
            await self._login()
        if "IDLE" not in self.capabilities:
            raise IdleUnsupported(f"{self._server.host} does not offer IDLE")
        await self._examine()

    async def idle(self, reissue: float = REISSUE_SECONDS) -> AsyncIterator[Event]:
        """Idle on the INBOX and yield what the server announces, ending IDLE and
        starting it again every ``reissue`` seconds. Runs until the connection
        fails: raises ``ProtocolError`` (closed, BYE, a refused command) or
        ``Timeout`` (the server did not answer DONE or IDLE in time)."""
        seconds = self._options.operation_seconds
        while True:
            tag = self._next_tag()
            # Events are yielded outside the time limits: a limit that passed while
            # the caller handles an event would cancel the caller's own work.
            early: list[Event] = []
            try:
                async with asyncio.timeout(seconds):
                    await self._channel.send(tag + b" IDLE\r\n")
                    while True:
                        line = await self._line()
                        if line.startswith(b"+"):
                            break
                        if line.startswith(tag + b" "):
                            raise errors.ProtocolError(f"{self._server.host} refused IDLE")
                        self._collect(line, early)
            except TimeoutError:
                raise errors.Timeout(f"{self._server.host} did not start IDLE in time") from None
            for event in early:
                yield event
            until = time.monotonic() + reissue
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    async with asyncio.timeout(left):
                        line = await self._line()
                except TimeoutError:
                    break
                event = self._event(line)
                if event is not None:
                    yield event
            late: list[Event] = []
            try:
                async with asyncio.timeout(seconds):
                    await self._channel.send(b"DONE\r\n")
                    while True:
                        line = await self._line()
                        if line.startswith(tag + b" "):
                            if not line[len(tag) + 1 :].upper().startswith(b"OK"):
                                raise errors.ProtocolError(f"{self._server.host} ended IDLE badly")
                            break
                        self._collect(line, late)
            except TimeoutError:
                raise errors.Timeout(f"{self._server.host} did not answer DONE in time") from None
            for event in late:
                yield event

    def _collect(self, line: bytes, events: list[Event]) -> None:
        event = self._event(line)
        if event is not None:
            events.append(event)

    def _event(self, line: bytes) -> Event | None:
        """The event an untagged line announces (None for others); BYE raises."""
        if line.upper().startswith(b"* BYE"):
            raise errors.ProtocolError(
                f"{self._server.host} ended the session: {line[6:].decode(errors='replace')}"
            )
        self._note(line)
        number = _UNTAGGED_NUMBER.match(line)
        if number is None:
            return None
        kind = number.group(2).upper()
        if kind in (b"EXISTS", b"EXPUNGE", b"RECENT"):
            return Event(kind.decode().lower(), int(number.group(1)))
        return None

    async def close(self) -> None:
        """LOGOUT when the connection is still usable (briefly), then close it."""
        if self.closed:
            return
        self.closed = True
        try:
            async with asyncio.timeout(1.0):
                await self._channel.send(self._next_tag() + b" LOGOUT\r\n")
        except (OSError, TimeoutError, ssl.SSLError, errors.MailError):
            pass
        finally:
            self._channel.close()

    def abort(self) -> None:
        """Close the connection at once, saying nothing."""
        self.closed = True
        self._channel.close()


async def open_session(server: ServerSettings, options: ConnectOptions) -> IdleSession:
    """Connect, secure, log in, check for IDLE and examine the INBOX, all within
    ``options.operation_seconds``; returns the session (``inbox`` holds EXISTS,
    UIDVALIDITY and UIDNEXT).

    Raises ``IdleUnsupported`` when the server lacks IDLE, and otherwise what
    :func:`postkamer.mail.imap.connect` raises (``HostNotFound``,
    ``PrivateHostRefused``, ``ConnectionRefused``, ``Timeout``,
    ``CertificateUntrusted``, ``TLSFailed``, ``StartTLSUnavailable``,
    ``AuthUnavailable``, ``AuthFailed``, ``ProtocolError``). Messages never
    contain the secret.
    """
    loop = asyncio.get_running_loop()
    seconds = options.operation_seconds
    session: IdleSession | None = None
    try:
        with net.translate_errors(server.host, server.port, seconds):
            async with asyncio.timeout(seconds):
                sock = await _open_socket(loop, server, options)
                channel = _Channel(loop, sock)
                session = IdleSession(channel, server, options)
                if server.security == net.SECURITY_SSL:
                    await channel.start_tls(options.ssl_context, server.host)
                await session.start()
    except BaseException:
        if session is not None:
            session.abort()
        raise
    return session
