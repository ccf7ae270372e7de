"""Network plumbing shared by IMAP and SMTP: checked name resolution, TCP
connect, TLS contexts, connection settings and error translation.

The central rule: a host name is resolved exactly once, every resolved address
is checked, and the socket is connected to one of those checked addresses.
Re-resolving later (as ``socket.create_connection`` would) opens a
DNS-rebinding gap where a public name first passes the check and then points
at an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from postkamer.mail import errors
from postkamer.mail.deadline import Deadline

#: ``getaddrinfo``-compatible function ``(host, port) -> [(family, type, proto,
#: canonname, sockaddr), ...]``; raises ``socket.gaierror`` when not found.
Resolver = Callable[[str, int], list[tuple]]

SECURITY_SSL = "ssl"
SECURITY_STARTTLS = "starttls"
SECURITY_NONE = "none"
SECURITY_CHOICES = (SECURITY_SSL, SECURITY_STARTTLS, SECURITY_NONE)


def make_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Return a client TLS context that verifies certificates and host names.

    The system CAs are always trusted; ``ca_file`` (PEM) adds extra trust on
    top, e.g. for a company CA or the test CA.  TLS 1.2 is the minimum.

    Raises ``FileNotFoundError``/``ssl.SSLError`` when ``ca_file`` is unusable.
    """
    ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # create_default_context already sets these; repeated so that a future
    # change of defaults cannot silently turn verification off.
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _system_resolver(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


# IPv6 forms that lead to an IPv4 address: a relay or translator on the way
# delivers to the IPv4 address inside, so that address is what must be judged.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translator
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # RFC 3879 deprecated it; networks still route it


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        # Catches the rest, e.g. 100.64.0.0/10 (carrier-grade NAT).
        or not ip.is_global
    )


def is_internal_address(address: str) -> bool:
    """Return True when ``address`` (IPv4/IPv6 literal) is not a public unicast
    address: loopback, private, link-local, site-local, reserved, multicast,
    unspecified or otherwise not globally routable.

    IPv6 forms that carry an IPv4 address are judged by that address too:
    IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``; a public one is
    fine, it is how IPv6-only networks reach IPv4 servers) and 6to4
    (``2002:AABB:CCDD::``). The local-use NAT64 prefix and Teredo are always internal.

    Raises ``ValueError`` when ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv4Address):
        return _not_public(ip)
    if ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1 on dual-stack sockets.
        return _not_public(ip.ipv4_mapped)
    if ip in _NAT64:
        return _not_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL or ip in _SITE_LOCAL or ip.teredo is not None:
        return True
    if ip.sixtofour is not None and _not_public(ip.sixtofour):
        return True
    return _not_public(ip)


def resolve_checked(
    host: str, port: int, allow_private: bool, resolver: Resolver | None = None
) -> list[tuple]:
    """Resolve ``host`` for TCP and check every address.

    Returns the ``getaddrinfo`` tuples ``(family, type, proto, canonname,
    sockaddr)``; IP literals work too.  ``resolver`` replaces
    ``socket.getaddrinfo`` (for tests or a custom DNS client).

    Raises ``HostNotFound`` when the name does not resolve, and
    ``PrivateHostRefused`` when ANY address is internal (see
    :func:`is_internal_address`) and ``allow_private`` is false.  Refusing on
    any (not all) internal address matters because the connect loop may try
    each of them.
    """
    resolve = resolver or _system_resolver
    try:
        infos = resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise errors.HostNotFound(f"host {host!r} not found: {exc}") from None
    except OSError as exc:
        raise errors.HostNotFound(f"could not resolve host {host!r}: {exc}") from None
    if not infos:
        raise errors.HostNotFound(f"host {host!r} has no addresses")
    if not allow_private:
        for info in infos:
            address = info[4][0]
            if is_internal_address(address):
                raise errors.PrivateHostRefused(
                    f"host {host!r} resolves to internal address {address}"
                )
    return list(infos)


def open_connection(
    host: str,
    port: int,
    timeout: float,
    allow_private: bool,
    resolver: Resolver | None = None,
    deadline: Deadline | None = None,
) -> socket.socket:
    """Return a TCP socket connected to a checked address of ``host``.

    The socket keeps ``timeout`` for all later operations, so a server that
    goes silent raises ``TimeoutError`` instead of hanging. With ``deadline``
    (armed by the caller) the socket is watched from its creation, and the
    connect waits no longer than the time left.

    Raises ``HostNotFound``/``PrivateHostRefused`` (see :func:`resolve_checked`),
    ``ConnectionRefused`` when no address accepts (refused, unreachable) and
    ``Timeout`` when the connect timed out.
    """
    infos = resolve_checked(host, port, allow_private, resolver)
    last_exc: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout)
            if deadline is not None:
                deadline.attach(sock)
                sock.settimeout(max(0.001, min(timeout, deadline.remaining())))
            sock.connect(sockaddr)
            sock.settimeout(timeout)
        except OSError as exc:
            sock.close()
            last_exc = exc
            continue
        return sock
    where = f"{host}:{port}"
    if isinstance(last_exc, TimeoutError):
        raise errors.Timeout(f"connecting to {where} timed out after {timeout:g} s") from None
    if isinstance(last_exc, ConnectionRefusedError):
        raise errors.ConnectionRefused(f"connection to {where} refused") from None
    raise errors.ConnectionRefused(f"could not connect to {where}: {last_exc}") from None


def map_ssl_error(exc: ssl.SSLError, host: str) -> errors.MailError:
    """Return the mail error for a TLS failure talking to ``host``:
    ``CertificateUntrusted`` for certificate/host-name verification failures,
    ``TLSFailed`` for every other handshake or TLS error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return errors.CertificateUntrusted(f"certificate of {host} not trusted: {reason}")
    return errors.TLSFailed(f"TLS with {host} failed: {exc.reason or exc}")


@contextmanager
def translate_errors(host: str, port: int, timeout: float) -> Iterator[None]:
    """Context manager turning socket and TLS exceptions into mail errors.

    ``MailError`` passes through unchanged.  Raises ``CertificateUntrusted``,
    ``TLSFailed``, ``Timeout`` or ``ProtocolError`` (connection lost).
    Protocol-specific errors (login refused, ...) must be mapped by the caller.
    """
    try:
        yield
    except errors.MailError:
        raise
    except ssl.SSLError as exc:
        raise map_ssl_error(exc, host) from None
    except TimeoutError:
        raise errors.Timeout(f"{host}:{port} did not answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise errors.ConnectionRefused(f"connection to {host}:{port} refused") from None
    except OSError as exc:
        raise errors.ProtocolError(f"connection to {host}:{port} lost: {exc}") from None
    except EOFError:
        raise errors.ProtocolError(f"{host}:{port} closed the connection") from None


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to connect and log in.

    ``security`` is ``"ssl"`` (implicit TLS), ``"starttls"`` or ``"none"``.
    Exactly one of ``password`` and ``oauth2_token`` is normally set.
    """

    host: str
    port: int
    security: str
    username: str
    password: str | None = None
    oauth2_token: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_CHOICES:
            raise ValueError(f"security must be one of {SECURITY_CHOICES}, not {self.security!r}")

    def __repr__(self) -> str:
        # Secrets are shown only as present/absent: this repr ends up in logs,
        # tracebacks and debugger output.
        password = "'***'" if self.password else "None"
        token = "'***'" if self.oauth2_token else "None"
        return (
            f"ServerSettings(host={self.host!r}, port={self.port!r}, "
            f"security={self.security!r}, username={self.username!r}, "
            f"password={password}, oauth2_token={token})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectOptions:
    """How to connect: TLS trust, time-out for every socket operation, whether
    internal addresses are allowed, and an optional resolver override.

    ``deadline`` is the total time connect + TLS + login may take, and so may each
    command (default: twice ``timeout``); a command that moves message bytes gets
    one more second for every ``min_rate`` bytes, so a big mailbox on an honest
    but slow line still syncs.
    """

    ssl_context: ssl.SSLContext
    timeout: float = 10.0
    allow_private: bool = False
    resolver: Resolver | None = None
    deadline: float | None = None
    min_rate: float = 64 * 1024

    @property
    def operation_seconds(self) -> float:
        """Return the total seconds one operation may take."""
        return self.deadline if self.deadline is not None else 2 * self.timeout

    def new_deadline(self, what: str, size: int = 0) -> Deadline:
        """Return a deadline for one operation with ``what`` (e.g. ``host:port``)
        that moves ``size`` bytes."""
        return Deadline(self.operation_seconds + size / self.min_rate, what)
