"""SPF, DKIM and DMARC checks of a sender domain (the "Beveiliging" tab).

Everything here is Django-free. Results carry stable ``code`` strings and
parameters instead of prose, so the web layer can translate them; the English
sentences live in :mod:`postkamer.mail.dnsauth_text`.

No DNS or parse problem is ever raised to the caller: a domain that does not
exist or a broken record gives an ``error`` verdict, a resolver that fails or
times out gives ``unknown``.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postkamer.mail.dnsauth_text import describe

log = logging.getLogger(__name__)

OK = "ok"
WARNING = "warning"
ERROR = "error"
UNKNOWN = "unknown"

PROVIDERS = ("imap", "office365")

#: Severity of every problem code the checker can emit. ``unknown`` means
#: "could not check", never "wrong".
PROBLEM_SEVERITY: dict[str, str] = {
    # Shared by the three checks.
    "dns_failure": UNKNOWN,
    "check_failed": UNKNOWN,
    "domain_not_found": ERROR,
    "domain_invalid": ERROR,
    # SPF
    "spf_missing": ERROR,
    "spf_multiple_records": ERROR,
    "spf_syntax_error": ERROR,
    "spf_too_many_lookups": ERROR,
    "spf_too_many_void_lookups": ERROR,
    "spf_too_many_mx": ERROR,
    "spf_include_loop": ERROR,
    "spf_include_missing": ERROR,
    "spf_include_multiple_records": ERROR,
    "spf_pass_all": ERROR,
    "spf_neutral_all": WARNING,
    "spf_no_all": WARNING,
    "spf_ptr_used": WARNING,
    "spf_provider_missing": ERROR,
    "spf_ip_not_authorised": ERROR,
    "spf_ip_undecided": WARNING,
    # DKIM
    "dkim_missing_selector": ERROR,
    "dkim_selector_not_found": ERROR,
    "dkim_not_found": WARNING,
    "dkim_cname_target_missing": WARNING,
    "dkim_key_revoked": ERROR,
    "dkim_key_invalid": ERROR,
    "dkim_syntax_error": ERROR,
    "dkim_key_too_short": ERROR,
    "dkim_key_weak": WARNING,
    "dkim_unknown_key_type": ERROR,
    "dkim_testing_mode": WARNING,
    # DMARC
    "dmarc_missing": ERROR,
    "dmarc_multiple_records": ERROR,
    "dmarc_syntax_error": ERROR,
    "dmarc_policy_none": WARNING,
    "dmarc_no_rua": WARNING,
    "dmarc_pct_partial": WARNING,
}

#: Every advice code the checker can emit.
ADVICE_CODES: frozenset[str] = frozenset(
    {
        "try_again_later",
        "check_domain_name",
        "spf_add_record",
        "spf_merge_records",
        "spf_fix_syntax",
        "spf_reduce_lookups",
        "spf_remove_void_lookups",
        "spf_fix_include_loop",
        "spf_fix_include",
        "spf_end_with_fail_all",
        "spf_replace_ptr",
        "spf_add_include",
        "spf_authorise_ip",
        "spf_check_ip_manually",
        "dkim_add_o365_cname",
        "dkim_enable_o365",
        "dkim_publish_key",
        "dkim_enter_selector",
        "dkim_replace_key",
        "dkim_fix_record",
        "dkim_end_testing",
        "dmarc_add_record",
        "dmarc_merge_records",
        "dmarc_fix_syntax",
        "dmarc_raise_policy",
        "dmarc_add_rua",
        "dmarc_remove_pct",
        "dmarc_explain_alignment",
        "dmarc_explain_subdomain_policy",
        "dmarc_inherited",
    }
)

SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
# Beyond this many lookups we stop following includes: the verdict is already
# "too many", and a hostile record must not make us query forever.
_SPF_FOLLOW_CAP = 30

O365_SPF_INCLUDE = "spf.protection.outlook.com"
O365_DKIM_SELECTORS = ("selector1", "selector2")

#: Known mail services: the SPF include they document, and the suffixes of
#: their SMTP host names (to recognise them from a mailbox's ``smtp_host``).
KNOWN_PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "office365": (O365_SPF_INCLUDE, ("office365.com", "outlook.com")),
    "google": ("_spf.google.com", ("gmail.com", "google.com", "googlemail.com")),
    "transip": ("_spf.transip.email", ("transip.email", "transip.nl")),
    "antagonist": ("spf.antagonist.nl", ("antagonist.nl",)),
    "hostnet": ("spf.hostnet.nl", ("hostnet.nl",)),
    "one.com": ("_custspf.one.com", ("one.com",)),
    "zoho": ("zoho.eu", ("zoho.eu",)),
}

#: Selectors tried when the administrator did not tell us which one is used.
KNOWN_DKIM_SELECTORS = (
    "default",
    "selector1",
    "selector2",
    "google",
    "k1",
    "mail",
    "dkim",
    "s1",
    "s2",
)

# Public suffixes of more than one label that Dutch offices meet in practice.
# Anything else is treated as a one-label suffix (example.nl, example.com).
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.nz", "net.nz", "org.nz",
        "co.za", "org.za",
        "com.br", "com.cn", "com.hk", "com.sg", "com.tr", "com.tw", "com.mx",
        "co.jp", "ne.jp", "or.jp", "co.kr", "co.in", "co.il", "co.id", "co.th",
        "com.pl", "com.es", "com.pt", "com.ar",
        "gv.at", "co.at", "or.at",
        "blogspot.com", "github.io",
    }
)  # fmt: skip


# ---------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------


@dataclass
class Problem:
    """Something wrong (or unchecked) about a record; ``code`` is a stable key."""

    code: str
    params: dict[str, str | int] = field(default_factory=dict)


@dataclass
class Advice:
    """What to ask the ICT administrator; ``record`` is the exact record when known."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    record: str | None = None


@dataclass
class Verdict:
    """The outcome for one record type (SPF, DKIM or DMARC)."""

    status: str
    record: str | None
    problems: list[Problem] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready shape, with English ``message`` texts added."""
        return {
            "status": self.status,
            "record": self.record,
            "problems": [
                {"code": p.code, "params": dict(p.params), "message": describe(p.code, p.params)}
                for p in self.problems
            ],
            "advice": [
                {
                    "code": a.code,
                    "params": dict(a.params),
                    "record": a.record,
                    "message": describe(a.code, a.params),
                }
                for a in self.advice
            ],
        }


@dataclass
class DomainReport:
    """The three verdicts of one domain, as shown on the security tab."""

    domain: str
    checked_at: datetime
    spf: Verdict
    dkim: Verdict
    dmarc: Verdict

    def to_dict(self) -> dict[str, Any]:
        """Return ``{checked_at, domain, spf, dkim, dmarc}``, ready for ``json.dumps``."""
        return {
            "checked_at": self.checked_at.isoformat(),
            "domain": self.domain,
            "spf": self.spf.to_dict(),
            "dkim": self.dkim.to_dict(),
            "dmarc": self.dmarc.to_dict(),
        }


def _problem(code: str, **params: str | int) -> Problem:
    assert code in PROBLEM_SEVERITY, code
    return Problem(code, dict(params))


def _advice(code: str, record: str | None = None, **params: Any) -> Advice:
    assert code in ADVICE_CODES, code
    return Advice(code, dict(params), record)


def _status(problems: Sequence[Problem]) -> str:
    severities = {PROBLEM_SEVERITY[p.code] for p in problems}
    # An error found in data we did get outranks a lookup that failed; a
    # failed lookup outranks warnings, because what we missed may be worse.
    for status in (ERROR, UNKNOWN, WARNING):
        if status in severities:
            return status
    return OK


def _verdict(record: str | None, problems: list[Problem], advice: list[Advice]) -> Verdict:
    # Advice may be derived twice (e.g. the same include for two IPs).
    unique: list[Advice] = []
    for item in advice:
        if item not in unique:
            unique.append(item)
    return Verdict(_status(problems), record, problems, unique)


def _failed_verdict(name: str, reason: str) -> Verdict:
    return _verdict(
        None, [_problem("dns_failure", name=name, reason=reason)], [_advice("try_again_later")]
    )


# ---------------------------------------------------------------------------
# DNS access
# ---------------------------------------------------------------------------


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


class _TempFail(Exception):
    """A lookup failed for a reason that may go away (time-out, SERVFAIL...)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass
class _Answer:
    status: str  # "ok", "nxdomain" or "nodata"
    records: list[Any]
    canonical: str

    @property
    def void(self) -> bool:
        return not self.records


class _Dns:
    """Thread-safe, per-check cached lookups sharing one deadline."""

    def __init__(self, resolver: dns.resolver.Resolver, timeout: float, deadline: float) -> None:
        self._resolver = resolver
        self._timeout = timeout
        self._deadline = deadline
        self._cache: dict[tuple[str, str], _Answer | _TempFail] = {}
        self._lock = threading.Lock()

    def query(self, name: str, rdtype: str) -> _Answer:
        """Return the answer; raise ``_TempFail`` when the server cannot say."""
        key = (name.lower().rstrip("."), rdtype)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = self._query(key[0], rdtype)
            with self._lock:
                self._cache[key] = cached
        if isinstance(cached, _TempFail):
            raise cached
        return cached

    def _query(self, name: str, rdtype: str) -> _Answer | _TempFail:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0.05:
            return _TempFail(name, "timeout")
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
            return _Answer("nxdomain", [], name)
        except dns.resolver.NoNameservers:
            # Every server answered SERVFAIL/REFUSED or could not be reached.
            return _TempFail(name, "servfail")
        except dns.exception.Timeout:
            return _TempFail(name, "timeout")
        except dns.resolver.NoResolverConfiguration:
            return _TempFail(name, "no_resolver")
        except dns.exception.DNSException as exc:
            return _TempFail(name, type(exc).__name__)
        except (OSError, ValueError) as exc:
            return _TempFail(name, type(exc).__name__)
        canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
        if answer.rrset is None:
            return _Answer("nodata", [], canonical)
        return _Answer("ok", list(answer.rrset), canonical)

    def txt(self, name: str) -> tuple[_Answer, list[str]]:
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
        """Return False for NXDOMAIN; raise ``_TempFail`` when unknown."""
        answer = self.query(domain, "TXT")
        return answer.status != "nxdomain"


def organisational_domain(domain: str) -> str:
    """Return the organisational domain (RFC 7489 §3.2) from a small suffix list.

    ``mail.kantoor.nl`` gives ``kantoor.nl``; ``www.kantoor.co.uk`` gives
    ``kantoor.co.uk``. Raises nothing.
    """
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) <= 2:
        return ".".join(labels)
    if ".".join(labels[-2:]) in _MULTI_LABEL_SUFFIXES:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _normalise_domain(domain: str) -> str | None:
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


# ---------------------------------------------------------------------------
# SPF (RFC 7208)
# ---------------------------------------------------------------------------

_QUALIFIER_RESULT = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists", "redirect"}
_MODIFIER_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.\-]*)=(.*)$")
_MECHANISM_RE = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_.\-]*)(.*)$")
_DUAL_CIDR_RE = re.compile(r"^(?::([^/]+))?(?:/(\d{1,2}))?(?://(\d{1,3}))?$")
_MACRO_RE = re.compile(r"%\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}|%%|%_|%-", re.IGNORECASE)
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?\.)+"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?$"
)

_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _SpfTerm:
    raw: str
    name: str  # lower-case mechanism or modifier name
    qualifier: str = "+"
    value: str | None = None  # domain-spec or address
    cidr4: int | None = None
    cidr6: int | None = None
    modifier: bool = False
    network: _Net | None = None


@dataclass
class _SpfNode:
    domain: str
    record: str
    terms: list[_SpfTerm]
    children: dict[int, _SpfNode] = field(default_factory=dict)
    addresses: dict[int, list[_Ip]] = field(default_factory=dict)
    undecidable: set[int] = field(default_factory=set)

    @property
    def has_all(self) -> bool:
        return any(t.name == "all" and not t.modifier for t in self.terms)

    def redirect_index(self) -> int | None:
        # RFC 7208 §6.1: redirect is ignored when the record has "all".
        if self.has_all:
            return None
        for index, term in enumerate(self.terms):
            if term.modifier and term.name == "redirect":
                return index
        return None


def is_spf_record(text: str) -> bool:
    """Return True when ``text`` is an SPF version 1 record (RFC 7208 §4.5)."""
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _valid_domain_spec(spec: str) -> bool:
    if "%" in spec:
        rest = _MACRO_RE.sub("x", spec)
        return "%" not in rest and "{" not in rest and "}" not in rest and bool(rest.strip("."))
    return bool(_DOMAIN_RE.match(spec.rstrip(".")))


def parse_spf(record: str) -> tuple[list[_SpfTerm], list[str]]:
    """Parse an SPF record into terms.

    Returns ``(terms, bad_terms)``; ``bad_terms`` lists the raw terms that are
    not valid RFC 7208 syntax (empty when the record is fine). Raises nothing.
    """
    words = record.split()
    terms: list[_SpfTerm] = []
    bad: list[str] = []
    if not words or words[0].lower() != "v=spf1":
        return terms, [words[0] if words else record]
    seen_modifiers: set[str] = set()
    for word in words[1:]:
        if not word.isascii():
            bad.append(word)
            continue
        modifier = _MODIFIER_RE.match(word)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in seen_modifiers or not _valid_domain_spec(value):
                    bad.append(word)
                    continue
                seen_modifiers.add(name)
            terms.append(_SpfTerm(word, name, value=value, modifier=True))
            continue
        term = _parse_mechanism(word)
        if term is None:
            bad.append(word)
        else:
            terms.append(term)
    return terms, bad


def _parse_mechanism(word: str) -> _SpfTerm | None:
    match = _MECHANISM_RE.match(word)
    if not match:
        return None
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if name not in _MECHANISMS:
        return None
    term = _SpfTerm(word, name, qualifier)
    if name == "all":
        return term if rest == "" else None
    if name in ("include", "exists"):
        if not rest.startswith(":") or not _valid_domain_spec(rest[1:]):
            return None
        term.value = rest[1:]
        return term
    if name == "ptr":
        if rest == "":
            return term
        if not rest.startswith(":") or not _valid_domain_spec(rest[1:]):
            return None
        term.value = rest[1:]
        return term
    if name in ("a", "mx"):
        cidr = _DUAL_CIDR_RE.match(rest)
        if not cidr:
            return None
        spec, cidr4, cidr6 = cidr.groups()
        if spec is not None and not _valid_domain_spec(spec):
            return None
        term.value = spec
        term.cidr4 = int(cidr4) if cidr4 is not None else None
        term.cidr6 = int(cidr6) if cidr6 is not None else None
        if (term.cidr4 or 0) > 32 or (term.cidr6 or 0) > 128:
            return None
        return term
    # ip4 / ip6
    if not rest.startswith(":"):
        return None
    address = rest[1:]
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return None
    if (name == "ip4") != (network.version == 4):
        return None
    term.value = address
    term.network = network
    return term


class _SpfWalker:
    """Follows an SPF record through includes and redirects, counting lookups."""

    def __init__(self, lookups: _Dns) -> None:
        self.dns = lookups
        self.lookup_count = 0
        self.void_count = 0
        self.void_terms: list[str] = []
        self.problems: list[Problem] = []
        self.failures: list[_TempFail] = []
        self.targets: set[str] = set()  # every include/redirect domain reached

    def expand(self, node: _SpfNode, chain: tuple[str, ...]) -> None:
        redirect = node.redirect_index()
        for index, term in enumerate(node.terms):
            if term.modifier and index != redirect:
                continue
            if term.name in _LOOKUP_TERMS:
                self.lookup_count += 1
                if self.lookup_count > _SPF_FOLLOW_CAP:
                    node.undecidable.add(index)
                    continue
            try:
                self._evaluate_term(node, index, term, chain)
            except _TempFail as failure:
                self.failures.append(failure)
                node.undecidable.add(index)

    def _evaluate_term(
        self, node: _SpfNode, index: int, term: _SpfTerm, chain: tuple[str, ...]
    ) -> None:
        if term.name == "ptr":
            self.problems.append(_problem("spf_ptr_used", domain=node.domain))
            node.undecidable.add(index)
            return
        target = term.value
        if target is not None and "%" in target:
            # Macros depend on the sender; we cannot evaluate them statically.
            node.undecidable.add(index)
            return
        target = (target or node.domain).lower().rstrip(".")
        if term.name in ("include", "redirect"):
            self.targets.add(target)
            child = self._load(target, chain)
            if child is None:
                node.undecidable.add(index)
            else:
                node.children[index] = child
                self.expand(child, (*chain, target))
        elif term.name == "a":
            found, void = self.dns.addresses(target)
            self._count_void(void, term)
            node.addresses[index] = found
        elif term.name == "mx":
            answer = self.dns.query(target, "MX")
            self._count_void(answer.void, term)
            if len(answer.records) > 10:
                self.problems.append(
                    _problem("spf_too_many_mx", domain=target, count=len(answer.records))
                )
            found: list[_Ip] = []
            for mx in answer.records[:10]:
                host = mx.exchange.to_text(omit_final_dot=True)
                if host:
                    found.extend(self.dns.addresses(host)[0])
            node.addresses[index] = found
        elif term.name == "exists":
            found, void = self.dns.addresses(target)
            self._count_void(void, term)
            node.undecidable.add(index)

    def _count_void(self, void: bool, term: _SpfTerm) -> None:
        if void:
            self.void_count += 1
            self.void_terms.append(term.raw)

    def _load(self, domain: str, chain: tuple[str, ...]) -> _SpfNode | None:
        if domain in chain:
            self.problems.append(_problem("spf_include_loop", domain=domain))
            return None
        answer, texts = self.dns.txt(domain)
        records = [t for t in texts if is_spf_record(t)]
        if not records:
            if answer.void:
                self.void_count += 1
                self.void_terms.append(domain)
            self.problems.append(_problem("spf_include_missing", domain=domain))
            return None
        if len(records) > 1:
            self.problems.append(_problem("spf_include_multiple_records", domain=domain))
            return None
        terms, bad = parse_spf(records[0])
        for word in bad:
            self.problems.append(_problem("spf_syntax_error", domain=domain, term=word))
        if bad:
            return None
        return _SpfNode(domain, records[0], terms)


def _term_matches(node: _SpfNode, index: int, term: _SpfTerm, ip: _Ip) -> bool:
    if term.network is not None:
        return ip.version == term.network.version and ip in term.network
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    for address in node.addresses.get(index, []):
        if address.version != ip.version:
            continue
        bits = prefix if prefix is not None else address.max_prefixlen
        if ip in ipaddress.ip_network(f"{address}/{bits}", strict=False):
            return True
    return False


def _spf_result_for_ip(node: _SpfNode, ip: _Ip) -> str:
    """Evaluate check_host() for ``ip`` on the expanded tree (RFC 7208 §4.6).

    Returns an SPF result, or ``undecided`` when a term we could not evaluate
    (ptr, exists, macros, failed lookups) comes before any match.
    """
    for index, term in enumerate(node.terms):
        if term.modifier:
            continue
        if term.name == "all":
            return _QUALIFIER_RESULT[term.qualifier]
        if index in node.undecidable:
            return "undecided"
        if term.name == "include":
            child = node.children.get(index)
            if child is None:
                return "undecided"
            inner = _spf_result_for_ip(child, ip)
            if inner == "undecided":
                return inner
            matched = inner == "pass"
        else:
            matched = _term_matches(node, index, term, ip)
        if matched:
            return _QUALIFIER_RESULT[term.qualifier]
    redirect = node.redirect_index()
    if redirect is not None:
        if redirect in node.undecidable or redirect not in node.children:
            return "undecided"
        return _spf_result_for_ip(node.children[redirect], ip)
    return "neutral"


def _effective_all(node: _SpfNode) -> str | None:
    for term in node.terms:
        if term.name == "all" and not term.modifier:
            return term.qualifier
    redirect = node.redirect_index()
    if redirect is not None and redirect in node.children:
        return _effective_all(node.children[redirect])
    return None


def spf_with_term(record: str, term: str) -> str:
    """Return ``record`` with ``term`` added before its ``all`` (or at the end)."""
    words = record.split()
    for index, word in enumerate(words):
        if index and word.lower().lstrip("+-~?") == "all":
            return " ".join([*words[:index], term, *words[index:]])
    for index, word in enumerate(words):
        if index and _MODIFIER_RE.match(word):
            return " ".join([*words[:index], term, *words[index:]])
    return " ".join([*words, term])


def _spf_with_fail_all(record: str) -> str:
    words = [w for w in record.split() if w.lower().lstrip("+-~?") != "all"]
    # "-all" ends the mechanisms; a redirect would be ignored after it anyway.
    words = [w for w in words if not w.lower().startswith("redirect=")]
    return " ".join([*words, "-all"])


def _merge_spf(records: Sequence[str]) -> str:
    merged: list[str] = []
    all_term = "~all"
    for record in records:
        for word in record.split()[1:]:
            bare = word.lower().lstrip("+-~?")
            if bare == "all":
                if word.startswith("-"):
                    all_term = "-all"
                continue
            if word.lower().startswith("redirect="):
                continue
            if word not in merged:
                merged.append(word)
    return " ".join(["v=spf1", *merged, all_term])


def _ip_term(ip: _Ip) -> str:
    return f"ip{ip.version}:{ip}"


def _provider_include(provider: str, smtp_host: str | None) -> str | None:
    if provider == "office365":
        return O365_SPF_INCLUDE
    host = (smtp_host or "").lower().rstrip(".")
    if host:
        for include, suffixes in KNOWN_PROVIDERS.values():
            if any(host == s or host.endswith("." + s) for s in suffixes):
                return include
    return None


def _check_spf(
    lookups: _Dns,
    domain: str,
    provider: str,
    smtp_host: str | None,
    smtp_host_ips: Sequence[str],
) -> Verdict:
    try:
        answer, texts = lookups.txt(domain)
    except _TempFail as failure:
        return _failed_verdict(failure.name, failure.reason)
    if answer.status == "nxdomain":
        return _not_found_verdict(domain)
    records = [t for t in texts if is_spf_record(t)]
    problems: list[Problem] = []
    advice: list[Advice] = []
    include = _provider_include(provider, smtp_host)
    ips, bad_ips, ip_failure = _smtp_addresses(lookups, smtp_host, smtp_host_ips)

    if not records:
        terms = [f"include:{include}"] if include else [_ip_term(ip) for ip in ips] or ["mx"]
        problems.append(_problem("spf_missing", domain=domain))
        advice.append(_advice("spf_add_record", " ".join(["v=spf1", *terms, "-all"]), name=domain))
        return _verdict(None, problems, advice)
    joined = " | ".join(records)
    if len(records) > 1:
        problems.append(_problem("spf_multiple_records", domain=domain, count=len(records)))
        advice.append(_advice("spf_merge_records", _merge_spf(records), name=domain))
        return _verdict(joined, problems, advice)

    record = records[0]
    terms, bad = parse_spf(record)
    if bad:
        for word in bad:
            problems.append(_problem("spf_syntax_error", domain=domain, term=word))
            advice.append(_advice("spf_fix_syntax", term=word, name=domain))
        return _verdict(record, problems, advice)

    walker = _SpfWalker(lookups)
    root = _SpfNode(domain, record, terms)
    walker.expand(root, (domain,))
    problems.extend(walker.problems)
    for item in walker.problems:
        if item.code == "spf_include_loop":
            advice.append(_advice("spf_fix_include_loop", domain=item.params["domain"]))
        elif item.code in (
            "spf_include_missing",
            "spf_include_multiple_records",
            "spf_syntax_error",
        ):
            advice.append(_advice("spf_fix_include", domain=item.params["domain"]))
        elif item.code == "spf_ptr_used":
            advice.append(_advice("spf_replace_ptr", domain=item.params["domain"]))
    if walker.lookup_count > SPF_LOOKUP_LIMIT:
        problems.append(
            _problem("spf_too_many_lookups", count=walker.lookup_count, limit=SPF_LOOKUP_LIMIT)
        )
        advice.append(
            _advice("spf_reduce_lookups", count=walker.lookup_count, limit=SPF_LOOKUP_LIMIT)
        )
    if walker.void_count > SPF_VOID_LIMIT:
        problems.append(
            _problem("spf_too_many_void_lookups", count=walker.void_count, limit=SPF_VOID_LIMIT)
        )
        advice.append(_advice("spf_remove_void_lookups", terms=" ".join(walker.void_terms)))

    qualifier = _effective_all(root)
    if qualifier == "+":
        problems.append(_problem("spf_pass_all"))
    elif qualifier == "?":
        problems.append(_problem("spf_neutral_all"))
    elif qualifier is None and root.redirect_index() is None:
        problems.append(_problem("spf_no_all"))
    if qualifier in ("+", "?") or (qualifier is None and root.redirect_index() is None):
        advice.append(_advice("spf_end_with_fail_all", _spf_with_fail_all(record), name=domain))

    _check_authorisation(root, walker, domain, include, ips, bad_ips, problems, advice)

    failures = [*walker.failures, *([ip_failure] if ip_failure else [])]
    if failures:
        first = failures[0]
        problems.append(_problem("dns_failure", name=first.name, reason=first.reason))
        advice.append(_advice("try_again_later"))
    return _verdict(record, problems, advice)


def _smtp_addresses(
    lookups: _Dns, smtp_host: str | None, smtp_host_ips: Sequence[str]
) -> tuple[list[_Ip], list[str], _TempFail | None]:
    ips: list[_Ip] = []
    bad: list[str] = []
    for text in smtp_host_ips:
        try:
            ips.append(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            bad.append(str(text))
    failure = None
    if not smtp_host_ips and smtp_host:
        try:
            ips.extend(lookups.addresses(smtp_host.rstrip("."))[0])
        except _TempFail as exc:
            failure = exc
    return ips, bad, failure


def _check_authorisation(
    root: _SpfNode,
    walker: _SpfWalker,
    domain: str,
    include: str | None,
    ips: Sequence[_Ip],
    bad_ips: Sequence[str],
    problems: list[Problem],
    advice: list[Advice],
) -> None:
    include_reached = include is not None and include in walker.targets
    for text in bad_ips:
        problems.append(_problem("spf_ip_undecided", ip=text))
        advice.append(_advice("spf_check_ip_manually", ip=text))
    for ip in ips:
        result = _spf_result_for_ip(root, ip)
        if result == "pass" or (result == "undecided" and include_reached):
            continue
        if result == "undecided":
            problems.append(_problem("spf_ip_undecided", ip=str(ip)))
            advice.append(_advice("spf_check_ip_manually", ip=str(ip)))
            continue
        problems.append(_problem("spf_ip_not_authorised", ip=str(ip), result=result))
        if include and not include_reached:
            record = spf_with_term(root.record, f"include:{include}")
            advice.append(_advice("spf_add_include", record, include=include, name=domain))
        else:
            record = spf_with_term(root.record, _ip_term(ip))
            advice.append(_advice("spf_authorise_ip", record, ip=str(ip), name=domain))
    if include and not ips and not include_reached:
        problems.append(_problem("spf_provider_missing", include=include))
        record = spf_with_term(root.record, f"include:{include}")
        advice.append(_advice("spf_add_include", record, include=include, name=domain))


def _not_found_verdict(domain: str) -> Verdict:
    return _verdict(
        None,
        [_problem("domain_not_found", domain=domain)],
        [_advice("check_domain_name", domain=domain)],
    )


# ---------------------------------------------------------------------------
# DKIM (RFC 6376, RFC 8463)
# ---------------------------------------------------------------------------


@dataclass
class _DkimLookup:
    selector: str
    name: str
    state: str  # "found", "absent", "dangling" (CNAME to nothing), "failed"
    record: str | None = None
    target: str | None = None
    failure: _TempFail | None = None


def _lookup_dkim(lookups: _Dns, domain: str, selector: str) -> _DkimLookup:
    name = f"{selector}._domainkey.{domain}"
    current = name
    try:
        # A stub resolver only follows CNAMEs the server put in the answer;
        # follow the rest ourselves (Office 365 points at onmicrosoft.com).
        for _hop in range(6):
            _answer, texts = lookups.txt(current)
            keys = [t for t in texts if "p=" in t or t.strip().lower().startswith("v=dkim1")]
            if keys or texts:
                return _DkimLookup(selector, name, "found", (keys or texts)[0], current)
            cname = lookups.query(current, "CNAME")
            if not cname.records:
                break
            current = cname.records[0].target.to_text(omit_final_dot=True).lower()
    except _TempFail as failure:
        return _DkimLookup(selector, name, "failed", failure=failure)
    if current != name:
        return _DkimLookup(selector, name, "dangling", target=current)
    return _DkimLookup(selector, name, "absent")


def parse_dkim_key(record: str) -> tuple[list[tuple[str, dict[str, str | int]]], int | None]:
    """Check a DKIM key record (RFC 6376 §3.6.1).

    Returns ``(problems, bits)``: problem codes with their params (without the
    selector) and the RSA key size (``None`` for Ed25519 or an unusable key).
    Raises nothing.
    """
    tags: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            return [("dkim_syntax_error", {"tag": part})], None
        tag, value = part.split("=", 1)
        tag = tag.strip().lower()
        if tag in tags:
            return [("dkim_syntax_error", {"tag": tag})], None
        tags[tag] = value.strip()
    if "v" in tags and tags["v"] != "DKIM1":
        return [("dkim_syntax_error", {"tag": "v"})], None
    if "p" not in tags:
        return [("dkim_syntax_error", {"tag": "p"})], None
    found: list[tuple[str, dict[str, str | int]]] = []
    if "y" in [flag.strip().lower() for flag in tags.get("t", "").split(":")]:
        found.append(("dkim_testing_mode", {}))
    data = re.sub(r"\s+", "", tags["p"])
    if not data:
        return [("dkim_key_revoked", {}), *found], None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return [("dkim_key_invalid", {}), *found], None
    key_type = tags.get("k", "rsa").strip().lower()
    if key_type == "ed25519":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            return [("dkim_key_invalid", {}), *found], None
        return found, None
    if key_type != "rsa":
        return [("dkim_unknown_key_type", {"type": key_type}), *found], None
    try:
        # Accepts SubjectPublicKeyInfo as well as the bare PKCS#1 RSAPublicKey
        # some providers publish.
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError):
        return [("dkim_key_invalid", {}), *found], None
    if not isinstance(key, rsa.RSAPublicKey):
        return [("dkim_key_invalid", {}), *found], None
    bits = key.key_size
    if bits < 1024:
        found.insert(0, ("dkim_key_too_short", {"bits": bits}))
    elif bits < 2048:
        found.insert(0, ("dkim_key_weak", {"bits": bits}))
    return found, bits


_DKIM_KEY_ADVICE = {
    "dkim_key_revoked": "dkim_publish_key",
    "dkim_key_invalid": "dkim_fix_record",
    "dkim_syntax_error": "dkim_fix_record",
    "dkim_unknown_key_type": "dkim_fix_record",
    "dkim_key_too_short": "dkim_replace_key",
    "dkim_key_weak": "dkim_replace_key",
    "dkim_testing_mode": "dkim_end_testing",
}


def _o365_target(selector: str, domain: str) -> str:
    return f"{selector}-{domain.replace('.', '-')}._domainkey.<tenant>.onmicrosoft.com"


def _check_dkim(lookups: _Dns, domain: str, provider: str, selectors: Sequence[str]) -> Verdict:
    explicit = _unique(s.strip().lower() for s in selectors if s and s.strip())
    required = list(O365_DKIM_SELECTORS) if provider == "office365" else []
    candidates = _unique([*explicit, *required, *([] if required else KNOWN_DKIM_SELECTORS)])

    results: list[_DkimLookup] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: _lookup_dkim(lookups, domain, s), candidates))

    problems: list[Problem] = []
    advice: list[Advice] = []
    records: list[str] = []
    failures = [r for r in results if r.state == "failed"]
    found = [r for r in results if r.state == "found"]
    must_exist = set(explicit) | set(required)

    if not found and any(r.state == "absent" for r in results):
        # Before blaming missing selectors, make sure the domain itself exists.
        try:
            if not lookups.domain_exists(domain):
                return _not_found_verdict(domain)
        except _TempFail as failure:
            return _failed_verdict(failure.name, failure.reason)

    for result in results:
        if result.state == "found" and result.record is not None:
            records.append(f"{result.selector}: {result.record}")
            codes, _bits = parse_dkim_key(result.record)
            for code, params in codes:
                problems.append(_problem(code, selector=result.selector, **params))
                advice.append(
                    _advice(
                        _DKIM_KEY_ADVICE[code],
                        selector=result.selector,
                        name=result.name,
                        **{k: v for k, v in params.items() if k == "bits"},
                    )
                )
        elif result.state == "dangling":
            problems.append(
                _problem(
                    "dkim_cname_target_missing",
                    selector=result.selector,
                    target=result.target or "",
                )
            )
            records.append(f"{result.selector}: CNAME {result.target}")
            if required:
                # One switch in Microsoft Defender publishes both keys.
                advice.append(_advice("dkim_enable_o365"))
            else:
                advice.append(
                    _advice("dkim_publish_key", selector=result.selector, name=result.name)
                )
        elif result.state == "absent" and result.selector in must_exist:
            if result.selector in required:
                problems.append(
                    _problem("dkim_missing_selector", selector=result.selector, name=result.name)
                )
                target = _o365_target(result.selector, domain)
                advice.append(
                    _advice(
                        "dkim_add_o365_cname",
                        target,
                        selector=result.selector,
                        name=result.name,
                        target=target,
                    )
                )
            else:
                problems.append(
                    _problem("dkim_selector_not_found", selector=result.selector, name=result.name)
                )
                advice.append(
                    _advice("dkim_publish_key", selector=result.selector, name=result.name)
                )

    essential_failures = [r for r in failures if r.selector in must_exist or not found]
    if essential_failures:
        first = essential_failures[0].failure
        assert first is not None
        problems.append(_problem("dns_failure", name=first.name, reason=first.reason))
        advice.append(_advice("try_again_later"))
    elif not found and not must_exist:
        problems.append(_problem("dkim_not_found", selectors=", ".join(candidates)))
        advice.append(
            _advice(
                "dkim_publish_key", selector="<selector>", name=f"<selector>._domainkey.{domain}"
            )
        )
        advice.append(_advice("dkim_enter_selector"))
    return _verdict("\n".join(records) or None, problems, advice)


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


_DKIM_TAG_RE = re.compile(r"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
_AR_DKIM_RE = re.compile(r"\bdkim\s*=\s*([a-z]+)", re.IGNORECASE)
_AR_PROP_RE = re.compile(r"\bheader\.([dis])\s*=\s*\"?([^\s;\"]+)\"?", re.IGNORECASE)
_COMMENT_RE = re.compile(r"\([^()]*\)")


def selectors_from_headers(raw_headers: Sequence[bytes | str]) -> list[tuple[str, str]]:
    """Return the ``(domain, selector)`` pairs used to sign mail, first seen first.

    Each item is one header (``DKIM-Signature: ...``) or a whole header block
    of a message. Reads ``d=``/``s=`` of DKIM-Signature and
    ``header.d``/``header.s`` (or ``header.i``) of the ``dkim=`` results in
    Authentication-Results. Domains and selectors are lower-cased. Malformed
    input is skipped; raises nothing.
    """
    pairs: list[tuple[str, str]] = []

    def add(domain: str | None, selector: str | None) -> None:
        if not domain or not selector:
            return
        pair = (domain.strip().lower().rstrip("."), selector.strip().lower())
        if all(pair) and pair not in pairs:
            pairs.append(pair)

    for raw in raw_headers:
        # The compat32 parsers never raise: defects are recorded, not thrown.
        if isinstance(raw, bytes):
            message = BytesHeaderParser(policy=compat32).parsebytes(raw)
        else:
            message = HeaderParser(policy=compat32).parsestr(str(raw))
        for value in message.get_all("DKIM-Signature") or []:
            text = re.sub(r"\s+", " ", str(value))
            tags = {k.lower(): v.strip() for k, v in _DKIM_TAG_RE.findall(text)}
            add(tags.get("d"), tags.get("s"))
        for value in message.get_all("Authentication-Results") or []:
            text = _COMMENT_RE.sub(" ", re.sub(r"\s+", " ", str(value)))
            for part in text.split(";"):
                result = _AR_DKIM_RE.search(part)
                if not result or result.group(1).lower() in ("none", "neutral"):
                    continue
                props = {k.lower(): v for k, v in _AR_PROP_RE.findall(part)}
                domain = props.get("d")
                if not domain and "i" in props:
                    domain = props["i"].rpartition("@")[2]
                add(domain, props.get("s"))
    return pairs


# ---------------------------------------------------------------------------
# DMARC (RFC 7489)
# ---------------------------------------------------------------------------

_DMARC_START_RE = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)", re.IGNORECASE)
_DMARC_TAG_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$", re.DOTALL)
_DMARC_URI_RE = re.compile(r"^(mailto:[^\s,!]+@[^\s,!]+)(![0-9]+[kmgt]?)?$", re.IGNORECASE)
_POLICIES = ("none", "quarantine", "reject")


def parse_dmarc(record: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Parse a DMARC record.

    Returns ``(tags, errors)``: the tags in order as ``(name, value)`` with
    lower-case names, and the ``(tag, value)`` pairs that are invalid.
    Unknown tags are kept and not an error (RFC 7489 §6.3). Raises nothing.
    """
    tags: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    parts = [p.strip() for p in record.split(";")]
    while parts and not parts[-1]:
        parts.pop()
    for index, part in enumerate(parts):
        match = _DMARC_TAG_RE.match(part)
        if not match:
            errors.append((part, ""))
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if index == 0 and (name != "v" or value != "DMARC1"):
            errors.append((name, value))
            continue
        if any(name == seen for seen, _ in tags):
            errors.append((name, value))
            continue
        if not _valid_dmarc_value(name, value):
            errors.append((name, value))
            continue
        tags.append((name, value))
    names = {name for name, _ in tags}
    if "p" not in names and not any(tag == "p" for tag, _ in errors):
        errors.append(("p", ""))
    return tags, errors


def _valid_dmarc_value(name: str, value: str) -> bool:
    lowered = value.lower()
    if name in ("p", "sp"):
        return lowered in _POLICIES
    if name in ("adkim", "aspf"):
        return lowered in ("r", "s")
    if name in ("pct", "ri"):
        return value.isdigit() and (name != "pct" or int(value) <= 100)
    if name in ("rua", "ruf"):
        uris = [u.strip() for u in value.split(",")]
        return all(_DMARC_URI_RE.match(u) for u in uris)
    if name == "fo":
        return all(option.strip() in ("0", "1", "d", "s") for option in lowered.split(":"))
    if name == "rf":
        return all(option.strip() == "afrf" for option in lowered.split(":"))
    return True


def _dmarc_text(tags: Sequence[tuple[str, str]], **changes: str | None) -> str:
    result: list[tuple[str, str]] = []
    for name, value in tags:
        if name in changes:
            new = changes.pop(name)
            if new is None:
                continue
            value = new
        result.append((name, value))
    for name, value in changes.items():
        if value is not None:
            # Keep "v" then "p" in front, as receivers and humans expect.
            position = 2 if name != "p" else 1
            result.insert(min(position, len(result)), (name, value))
    return "; ".join(f"{name}={value}" for name, value in result)


def _check_dmarc(lookups: _Dns, domain: str) -> Verdict:
    org = organisational_domain(domain)
    name = f"_dmarc.{domain}"
    try:
        _answer, texts = lookups.txt(name)
        records = [t for t in texts if _DMARC_START_RE.match(t)]
        inherited = False
        if not records and org != domain:
            name = f"_dmarc.{org}"
            _answer, texts = lookups.txt(name)
            records = [t for t in texts if _DMARC_START_RE.match(t)]
            inherited = bool(records)
        if not records and not lookups.domain_exists(domain):
            return _not_found_verdict(domain)
    except _TempFail as failure:
        return _failed_verdict(failure.name, failure.reason)

    problems: list[Problem] = []
    advice: list[Advice] = []
    if not records:
        problems.append(_problem("dmarc_missing", domain=domain))
        advice.append(
            _advice(
                "dmarc_add_record",
                f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}",
                name=f"_dmarc.{org}",
            )
        )
        return _verdict(None, problems, advice)
    if len(records) > 1:
        problems.append(_problem("dmarc_multiple_records", name=name, count=len(records)))
        advice.append(_advice("dmarc_merge_records", records[0], name=name))
        return _verdict(" | ".join(records), problems, advice)

    record = records[0]
    tags, errors = parse_dmarc(record)
    values = dict(tags)
    if errors:
        for tag, value in errors:
            problems.append(_problem("dmarc_syntax_error", tag=tag, value=value))
        fixes: dict[str, str | None] = {tag: None for tag, _ in errors if tag in dict(tags)}
        if "p" not in values:
            fixes["p"] = "quarantine"
        fixed = _dmarc_text(
            [(t, v) for t, v in tags if not any(t == e for e, _ in errors)], **fixes
        )
        advice.append(_advice("dmarc_fix_syntax", fixed, name=name))
        return _verdict(record, problems, advice)

    policy = values["p"].lower()
    subdomain_policy = values.get("sp", values["p"]).lower()
    effective = subdomain_policy if inherited else policy
    if inherited:
        advice.append(_advice("dmarc_inherited", org_domain=org, name=name))
    if effective == "none":
        problems.append(_problem("dmarc_policy_none"))
        change = {"sp": "quarantine"} if inherited and "sp" in values else {"p": "quarantine"}
        advice.append(_advice("dmarc_raise_policy", _dmarc_text(tags, **change), name=name))
    if "rua" not in values:
        problems.append(_problem("dmarc_no_rua"))
        address = f"mailto:dmarc-reports@{org}"
        advice.append(_advice("dmarc_add_rua", _dmarc_text(tags, rua=address), name=name))
    pct = int(values.get("pct", "100"))
    if pct < 100:
        problems.append(_problem("dmarc_pct_partial", pct=pct))
        advice.append(_advice("dmarc_remove_pct", _dmarc_text(tags, pct=None), name=name))
    advice.append(
        _advice(
            "dmarc_explain_alignment",
            adkim="strict" if values.get("adkim", "r").lower() == "s" else "relaxed",
            aspf="strict" if values.get("aspf", "r").lower() == "s" else "relaxed",
        )
    )
    if "sp" in values or inherited:
        advice.append(_advice("dmarc_explain_subdomain_policy", sp=subdomain_policy))
    return _verdict(record, problems, advice)


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def _guarded(check: Callable[[], Verdict]) -> Verdict:
    try:
        return check()
    except Exception as exc:  # a bug must not break the security tab
        log.exception("DNS authentication check failed")
        return _verdict(
            None,
            [_problem("check_failed", reason=type(exc).__name__)],
            [_advice("try_again_later")],
        )


def check_domain(
    domain: str,
    *,
    provider: str = "imap",
    selectors: Sequence[str] = (),
    smtp_host_ips: Sequence[str] = (),
    smtp_host: str | None = None,
    resolver: dns.resolver.Resolver | None = None,
    timeout: float = 3.0,
) -> DomainReport:
    """Check the SPF, DKIM and DMARC records of a sender domain.

    ``provider`` is the mailbox type (``imap`` or ``office365``);
    ``selectors`` are DKIM selectors to try first (entered by the
    administrator or found with :func:`selectors_from_headers`);
    ``smtp_host_ips`` are the addresses of the mailbox's SMTP server, which
    SPF must authorise; ``smtp_host`` (optional) is its host name, used to
    recognise a known provider and, without ``smtp_host_ips``, to look the
    addresses up. All lookups share one ``timeout`` (seconds).

    Returns a :class:`DomainReport`. Never raises for DNS or parse problems:
    they become ``error`` (the data is wrong) or ``unknown`` (could not ask).
    """
    checked_at = datetime.now(UTC)
    name = _normalise_domain(domain)
    if name is None:
        shown = str(domain).strip()

        def invalid() -> Verdict:
            return _verdict(
                None,
                [_problem("domain_invalid", domain=shown)],
                [_advice("check_domain_name", domain=shown)],
            )

        return DomainReport(shown, checked_at, invalid(), invalid(), invalid())
    provider = provider.lower() if provider and provider.lower() in PROVIDERS else "imap"
    if resolver is None:
        try:
            resolver = make_resolver(None, timeout)
        except Exception as exc:  # no resolv.conf and friends
            failed = _failed_verdict(name, type(exc).__name__)
            return DomainReport(name, checked_at, failed, failed, failed)

    started = time.monotonic()
    lookups = _Dns(resolver, timeout, started + timeout)
    checks: dict[str, Callable[[], Verdict]] = {
        "spf": lambda: _check_spf(lookups, name, provider, smtp_host, smtp_host_ips),
        "dkim": lambda: _check_dkim(lookups, name, provider, selectors),
        "dmarc": lambda: _check_dmarc(lookups, name),
    }
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="dnsauth")
    try:
        futures = {key: pool.submit(_guarded, check) for key, check in checks.items()}
        # Every lookup stops at the shared deadline; the margin covers the
        # time a thread needs to notice it.
        concurrent.futures.wait(futures.values(), timeout=timeout + 1.0)
        verdicts: dict[str, Verdict] = {}
        for key, future in futures.items():
            if future.done():
                verdicts[key] = future.result()
            else:
                verdicts[key] = _failed_verdict(name, "timeout")
    finally:
        # Do not wait for a straggler: its lookups end at the deadline anyway.
        pool.shutdown(wait=False, cancel_futures=True)
    return DomainReport(name, checked_at, verdicts["spf"], verdicts["dkim"], verdicts["dmarc"])
