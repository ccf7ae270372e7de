"""An in-process authoritative DNS server for tests (dnslib, UDP and TCP).

Zones are given as zone-file text and can be replaced at runtime. Two special
names let tests provoke resolver failures: every name at or under
``servfail.test`` answers SERVFAIL, and every name at or under
``timeout.test`` is never answered.
"""

from __future__ import annotations

import random
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSError, DNSHandler, DNSLogger, DNSServer

SERVFAIL_SUFFIX = "servfail.test."
TIMEOUT_SUFFIX = "timeout.test."


def worker_port(offset: int = 53) -> int:
    """Return this process's port for a DNS server: the xdist worker's port block
    (see tests/servers/plugin.py) plus ``offset``, so it never meets Dovecot's ports."""
    from tests.servers.plugin import worker_port_base

    return worker_port_base() + offset


def _under(name: str, suffix: str) -> bool:
    name = name.lower()
    return name == suffix or name.endswith("." + suffix)


class _ZoneResolver(BaseResolver):
    """Answers from the zones of a :class:`TestDNS`; REFUSED outside them."""

    def __init__(self, owner: TestDNS) -> None:
        self.owner = owner

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).lower()
        qtype = request.q.qtype
        with self.owner.lock:
            self.owner.queries.append((qname.rstrip("."), QTYPE.get(qtype)))
        if any(_under(qname, s) for s in self.owner.timeout_names):
            # dnslib's handler catches DNSError and sends nothing back.
            raise DNSError("test: never answer")
        if any(_under(qname, s) for s in self.owner.servfail_names):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        with self.owner.lock:
            zones = dict(self.owner.zones)
        origin = self._zone_for(qname, zones)
        if origin is None:
            reply.header.rcode = RCODE.REFUSED
            return reply
        # Follow CNAMEs inside the zones we serve, as an authoritative server does.
        name = qname
        for _hop in range(8):
            records = zones[origin]
            at_name = [rr for rr in records if str(rr.rname).lower() == name]
            matches = [rr for rr in at_name if qtype in (rr.rtype, QTYPE.ANY)]
            if matches:
                for rr in matches:
                    reply.add_answer(rr)
                return reply
            cnames = [rr for rr in at_name if rr.rtype == QTYPE.CNAME]
            if cnames and qtype != QTYPE.CNAME:
                reply.add_answer(cnames[0])
                name = str(cnames[0].rdata.label).lower()
                origin = self._zone_for(name, zones)
                if origin is None:
                    return reply
                continue
            exists = at_name or any(str(rr.rname).lower().endswith("." + name) for rr in records)
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            for rr in records:
                if rr.rtype == QTYPE.SOA:
                    reply.add_auth(rr)
                    break
            return reply
        return reply

    @staticmethod
    def _zone_for(name: str, zones: dict[str, list[RR]]) -> str | None:
        best = None
        for origin in zones:
            if _under(name, origin) and (best is None or len(origin) > len(best)):
                best = origin
        return best


class TestDNS:
    """A dnslib authoritative server on 127.0.0.1, UDP and TCP on one port."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._wanted_port = port if port is not None else worker_port()
        self._port: int | None = None
        self.zones: dict[str, list[RR]] = {}
        self.lock = threading.Lock()
        self.servfail_names: set[str] = {SERVFAIL_SUFFIX}
        self.timeout_names: set[str] = {TIMEOUT_SUFFIX}
        #: Every question asked, as (name without the final dot, type), in order.
        self.queries: list[tuple[str, str]] = []
        self._servers: list[DNSServer] = []

    @property
    def port(self) -> int:
        """Return the port the server listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("TestDNS is not started")
        return self._port

    @property
    def spec(self) -> str:
        """Return the ``POSTKAMER_DNS_RESOLVERS`` string for this server."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Listen on the worker's port, or on a random free one when it is taken."""
        candidates = [self._wanted_port] + [random.randint(40000, 60000) for _ in range(20)]
        last_error: OSError | None = None
        for port in candidates:
            try:
                self._bind(port)
            except OSError as exc:
                last_error = exc
                self._close_servers()
                continue
            self._port = port
            for server in self._servers:
                server.start_thread()
            return
        raise RuntimeError(f"no free port for TestDNS: {last_error}")

    def _bind(self, port: int) -> None:
        resolver = _ZoneResolver(self)
        logger = DNSLogger("none", prefix=False)
        # TCP first: SO_REUSEADDR would let a second UDP socket share the port
        # silently, while a TCP listener refuses, so TCP detects a busy port.
        for tcp in (True, False):
            server = DNSServer(resolver, address=self.host, port=port, tcp=tcp, logger=logger)
            self._servers.append(server)

    def _close_servers(self) -> None:
        for server in self._servers:
            server.server.server_close()
        self._servers = []

    def stop(self) -> None:
        """Stop both listeners."""
        for server in self._servers:
            server.stop()
        self._close_servers()
        self._port = None

    def set_zone(self, origin: str, zone_text: str) -> None:
        """Serve ``zone_text`` (zone-file syntax, names relative to ``origin``)."""
        origin = origin.lower().rstrip(".") + "."
        records = RR.fromZone(zone_text, origin=origin, ttl=60)
        if not any(rr.rtype == QTYPE.SOA for rr in records):
            soa = RR.fromZone("@ 60 IN SOA ns1 hostmaster 1 3600 600 86400 60", origin=origin)
            records = soa + records
        with self.lock:
            self.zones[origin] = records

    def add_records(self, origin: str, zone_text: str) -> None:
        """Add records to an existing zone (creating it when absent)."""
        origin = origin.lower().rstrip(".") + "."
        records = RR.fromZone(zone_text, origin=origin, ttl=60)
        if origin not in self.zones:
            self.set_zone(origin, "")
        with self.lock:
            self.zones[origin] = [*self.zones[origin], *records]

    def queries_under(self, suffix: str) -> list[tuple[str, str]]:
        """Return the questions asked so far about ``suffix`` and names under it."""
        suffix = suffix.lower().rstrip(".")
        with self.lock:
            asked = list(self.queries)
        return [(name, rdtype) for name, rdtype in asked if _under(name + ".", suffix + ".")]

    def remove_zone(self, origin: str) -> None:
        """Stop serving a zone; its names get REFUSED."""
        with self.lock:
            self.zones.pop(origin.lower().rstrip(".") + ".", None)


def txt(value: str) -> str:
    """Return ``value`` as zone-file TXT data, split into 255-byte strings."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)
