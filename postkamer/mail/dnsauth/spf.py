"""SPF (RFC 7208): parse the record, follow includes and redirects counting lookups,
and tell whether the mailbox's SMTP server may send for the domain."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from postkamer.mail.dnsauth.lookup import Lookups, TempFail
from postkamer.mail.dnsauth.verdicts import (
    Advice,
    Problem,
    Verdict,
    failed_verdict,
    make_advice,
    make_problem,
    not_found_verdict,
    verdict_of,
)

SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
# Beyond this many lookups we stop following includes: the verdict is already
# "too many", and a hostile record must not make us query forever.
_SPF_FOLLOW_CAP = 30

O365_SPF_INCLUDE = "spf.protection.outlook.com"

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

    def __init__(self, lookups: Lookups) -> None:
        self.dns = lookups
        self.lookup_count = 0
        self.void_count = 0
        self.void_terms: list[str] = []
        self.problems: list[Problem] = []
        self.failures: list[TempFail] = []
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
            except TempFail as failure:
                self.failures.append(failure)
                node.undecidable.add(index)

    def _evaluate_term(
        self, node: _SpfNode, index: int, term: _SpfTerm, chain: tuple[str, ...]
    ) -> None:
        if term.name == "ptr":
            self.problems.append(make_problem("spf_ptr_used", domain=node.domain))
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
                    make_problem("spf_too_many_mx", domain=target, count=len(answer.records))
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
            self.problems.append(make_problem("spf_include_loop", domain=domain))
            return None
        answer, texts = self.dns.txt(domain)
        records = [t for t in texts if is_spf_record(t)]
        if not records:
            if answer.void:
                self.void_count += 1
                self.void_terms.append(domain)
            self.problems.append(make_problem("spf_include_missing", domain=domain))
            return None
        if len(records) > 1:
            self.problems.append(make_problem("spf_include_multiple_records", domain=domain))
            return None
        terms, bad = parse_spf(records[0])
        for word in bad:
            self.problems.append(make_problem("spf_syntax_error", domain=domain, term=word))
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


def check_spf(
    lookups: Lookups,
    domain: str,
    provider: str,
    smtp_host: str | None,
    smtp_host_ips: Sequence[str],
) -> Verdict:
    """Return the SPF verdict of ``domain`` for a mailbox of type ``provider``
    sending through ``smtp_host`` (or from ``smtp_host_ips``)."""
    try:
        answer, texts = lookups.txt(domain)
    except TempFail as failure:
        return failed_verdict(failure.name, failure.reason)
    if answer.status == "nxdomain":
        return not_found_verdict(domain)
    records = [t for t in texts if is_spf_record(t)]
    problems: list[Problem] = []
    advice: list[Advice] = []
    include = _provider_include(provider, smtp_host)
    ips, bad_ips, ip_failure = _smtp_addresses(lookups, smtp_host, smtp_host_ips)

    if not records:
        terms = [f"include:{include}"] if include else [_ip_term(ip) for ip in ips] or ["mx"]
        problems.append(make_problem("spf_missing", domain=domain))
        advice.append(
            make_advice("spf_add_record", " ".join(["v=spf1", *terms, "-all"]), name=domain)
        )
        return verdict_of(None, problems, advice)
    joined = " | ".join(records)
    if len(records) > 1:
        problems.append(make_problem("spf_multiple_records", domain=domain, count=len(records)))
        advice.append(make_advice("spf_merge_records", _merge_spf(records), name=domain))
        return verdict_of(joined, problems, advice)

    record = records[0]
    terms, bad = parse_spf(record)
    if bad:
        for word in bad:
            problems.append(make_problem("spf_syntax_error", domain=domain, term=word))
            advice.append(make_advice("spf_fix_syntax", term=word, name=domain))
        return verdict_of(record, problems, advice)

    walker = _SpfWalker(lookups)
    root = _SpfNode(domain, record, terms)
    walker.expand(root, (domain,))
    problems.extend(walker.problems)
    for item in walker.problems:
        if item.code == "spf_include_loop":
            advice.append(make_advice("spf_fix_include_loop", domain=item.params["domain"]))
        elif item.code in (
            "spf_include_missing",
            "spf_include_multiple_records",
            "spf_syntax_error",
        ):
            advice.append(make_advice("spf_fix_include", domain=item.params["domain"]))
        elif item.code == "spf_ptr_used":
            advice.append(make_advice("spf_replace_ptr", domain=item.params["domain"]))
    if walker.lookup_count > SPF_LOOKUP_LIMIT:
        problems.append(
            make_problem("spf_too_many_lookups", count=walker.lookup_count, limit=SPF_LOOKUP_LIMIT)
        )
        advice.append(
            make_advice("spf_reduce_lookups", count=walker.lookup_count, limit=SPF_LOOKUP_LIMIT)
        )
    if walker.void_count > SPF_VOID_LIMIT:
        problems.append(
            make_problem("spf_too_many_void_lookups", count=walker.void_count, limit=SPF_VOID_LIMIT)
        )
        advice.append(make_advice("spf_remove_void_lookups", terms=" ".join(walker.void_terms)))

    qualifier = _effective_all(root)
    if qualifier == "+":
        problems.append(make_problem("spf_pass_all"))
    elif qualifier == "?":
        problems.append(make_problem("spf_neutral_all"))
    elif qualifier is None and root.redirect_index() is None:
        problems.append(make_problem("spf_no_all"))
    if qualifier in ("+", "?") or (qualifier is None and root.redirect_index() is None):
        advice.append(make_advice("spf_end_with_fail_all", _spf_with_fail_all(record), name=domain))

    _check_authorisation(root, walker, domain, include, ips, bad_ips, problems, advice)

    failures = [*walker.failures, *([ip_failure] if ip_failure else [])]
    if failures:
        first = failures[0]
        problems.append(make_problem("dns_failure", name=first.name, reason=first.reason))
        advice.append(make_advice("try_again_later"))
    return verdict_of(record, problems, advice)


def _smtp_addresses(
    lookups: Lookups, smtp_host: str | None, smtp_host_ips: Sequence[str]
) -> tuple[list[_Ip], list[str], TempFail | None]:
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
        except TempFail as exc:
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
        problems.append(make_problem("spf_ip_undecided", ip=text))
        advice.append(make_advice("spf_check_ip_manually", ip=text))
    for ip in ips:
        result = _spf_result_for_ip(root, ip)
        if result == "pass" or (result == "undecided" and include_reached):
            continue
        if result == "undecided":
            problems.append(make_problem("spf_ip_undecided", ip=str(ip)))
            advice.append(make_advice("spf_check_ip_manually", ip=str(ip)))
            continue
        problems.append(make_problem("spf_ip_not_authorised", ip=str(ip), result=result))
        if include and not include_reached:
            record = spf_with_term(root.record, f"include:{include}")
            advice.append(make_advice("spf_add_include", record, include=include, name=domain))
        else:
            record = spf_with_term(root.record, _ip_term(ip))
            advice.append(make_advice("spf_authorise_ip", record, ip=str(ip), name=domain))
    if include and not ips and not include_reached:
        problems.append(make_problem("spf_provider_missing", include=include))
        record = spf_with_term(root.record, f"include:{include}")
        advice.append(make_advice("spf_add_include", record, include=include, name=domain))
