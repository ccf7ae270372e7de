"""DNS access for the checks: the configured stub resolver and per-check lookups.

Every lookup of one check goes through one :class:`Lookups`, which caches the
answers (SPF, DKIM and DMARC ask some names twice) and stops at the check's
deadline. A server that cannot answer raises :class:`TempFail`, which the
checks turn into an ``unknown`` verdict.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver


def make_resolver(spec: str | None, timeout: float = 3.0) -> dns.resolver.Resolver:
    """Return a stub resolver with a short lifetime.

    ``spec`` is ``POSTKAMER_DNS_RESOLVERS``: comma-separated ``host`` or
    ``host:port`` entries (IPv6 as ``[::1]:5353`` or a bare ``::1``).
    ``None`` or an empty string uses the system resolver configuration.

    Raises ``ValueError`` for a malformed spec, and dnspython's
    ``NoResolverConfiguration`` when the system has no resolver configured.
    """
    if spec and spec.strip():
        resolver = dns.resolver.Resolver(configure=False)
        nameservers: list[dns.nameserver.Nameserver] = []
        for entry in spec.split(","):
            host, port = _split_host_port(entry.strip())
            nameservers.append(dns.nameserver.Do53Nameserver(host, port))
        resolver.nameservers = nameservers
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = timeout
    # Caching across checks would hide a record the administrator just fixed.
    resolver.cache = None
    return resolver


def _split_host_port(entry: str) -> tuple[str, int]:
    if not entry:
        raise ValueError("empty resolver entry")
    host, port = entry, 53
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            raise ValueError(f"bad resolver entry {entry!r}")
        host, rest = entry[1:end], entry[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad resolver entry {entry!r}")
            port = int(rest[1:])
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # raises ValueError for a host name
    if not 0 < port < 65536:
        raise ValueError(f"bad resolver port in {entry!r}")
    return host, port


class TempFail(Exception):
    """A lookup failed for a reason that may go away (time-out, SERVFAIL...)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass
class Answer:
    """One answer: ``records`` are dnspython rdata; ``canonical`` is the name after CNAMEs."""

    status: str  # "ok", "nxdomain" or "nodata"
    records: list[Any]
    canonical: str

    @property
    def void(self) -> bool:
        return not self.records


class Lookups:
    """Thread-safe, per-check cached lookups sharing one deadline (``time.monotonic``)."""

    def __init__(self, resolver: dns.resolver.Resolver, timeout: float, deadline: float) -> None:
        self._resolver = resolver
        self._timeout = timeout
        self._deadline = deadline
        self._cache: dict[tuple[str, str], Answer | TempFail] = {}
        self._lock = threading.Lock()

    def query(self, name: str, rdtype: str) -> Answer:
        """Return the answer; raise ``TempFail`` when the server cannot say."""
        key = (name.lower().rstrip("."), rdtype)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = self._query(key[0], rdtype)
            with self._lock:
                self._cache[key] = cached
        if isinstance(cached, TempFail):
            raise cached
        return cached

    def _query(self, name: str, rdtype: str) -> Answer | TempFail:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0.05:
            return TempFail(name, "timeout")
        try:
            qname = dns.name.from_text(name)
            answer = self._resolver.resolve(
                qname,
                rdtype,
                lifetime=min(self._timeout, remaining),
                raise_on_no_answer=False,
                search=False,
            )
        except dns.resolver.NXDOMAIN:
            return Answer("nxdomain", [], name)
        except dns.resolver.NoNameservers:
            # Every server answered SERVFAIL/REFUSED or could not be reached.
            return TempFail(name, "servfail")
        except dns.exception.Timeout:
            return TempFail(name, "timeout")
        except dns.resolver.NoResolverConfiguration:
            return TempFail(name, "no_resolver")
        except dns.exception.DNSException as exc:
            return TempFail(name, type(exc).__name__)
        except (OSError, ValueError) as exc:
            return TempFail(name, type(exc).__name__)
        canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
        if answer.rrset is None:
            return Answer("nodata", [], canonical)
        return Answer("ok", list(answer.rrset), canonical)

    def txt(self, name: str) -> tuple[Answer, list[str]]:
        """Return the answer and its TXT records, each record's strings joined."""
        answer = self.query(name, "TXT")
        texts = [b"".join(r.strings).decode("utf-8", "replace") for r in answer.records]
        return answer, texts

    def addresses(
        self, name: str
    ) -> tuple[list[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]:
        """Return the A and AAAA addresses of ``name`` and whether both were empty."""
        found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for rdtype in ("A", "AAAA"):
            answer = self.query(name, rdtype)
            found.extend(ipaddress.ip_address(r.address) for r in answer.records)
        return found, not found

    def domain_exists(self, domain: str) -> bool:
        """Return False for NXDOMAIN; raise ``TempFail`` when unknown."""
        answer = self.query(domain, "TXT")
        return answer.status != "nxdomain"


def normalise_domain(domain: str) -> str | None:
    """Return ``domain`` as lower-case ASCII without the final dot, or None when
    it is not a domain name of at least two labels."""
    try:
        text = domain.strip().rstrip(".")
        if not text or any(c.isspace() for c in text) or "@" in text:
            return None
        name = dns.name.from_text(text)
        ascii_name = name.to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    if "." not in ascii_name:
        return None
    return ascii_name
