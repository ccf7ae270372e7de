"""DMARC (RFC 7489): the domain's policy, or the organisational domain's."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from publicsuffixlist import PublicSuffixList

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


@functools.cache
def _suffixes() -> PublicSuffixList:
    # The list file ships inside the package, so this works offline and is as
    # fresh as the installed release. Both sections are used: the private one
    # holds registries that hand out names to unrelated customers exactly like
    # a country registry does (co.nl, com.de, eu.com are all private-section
    # entries). With the ICANN section alone, kantoor.co.nl's organisational
    # domain would be co.nl: we would read someone else's DMARC policy for it
    # and advise sending its reports to co.nl. RFC 7489 speaks of "the" public
    # suffix list without splitting it, and receivers such as OpenDMARC load
    # the whole file, so a domain's verdict here matches what they do.
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """Return the organisational domain (RFC 7489 §3.2): the public suffix of
    ``domain`` plus one label, by the Public Suffix List (ICANN and private
    sections).

    ``mail.kantoor.nl`` gives ``kantoor.nl``; ``mail.kantoor.co.nl`` gives
    ``kantoor.co.nl``. A name that is itself a public suffix (or has an unknown
    top-level domain with one label) is returned as it is. Raises nothing.
    """
    name = domain.lower().rstrip(".")
    try:
        found = _suffixes().privatesuffix(name)
    except (ValueError, TypeError, UnicodeError):
        found = None
    return found or name


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


def check_dmarc(lookups: Lookups, domain: str) -> Verdict:
    """Return the DMARC verdict of ``domain``, falling back to its organisational
    domain's record when it has none (RFC 7489 §6.6.3)."""
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
            return not_found_verdict(domain)
    except TempFail as failure:
        return failed_verdict(failure.name, failure.reason)

    problems: list[Problem] = []
    advice: list[Advice] = []
    if not records:
        problems.append(make_problem("dmarc_missing", domain=domain))
        advice.append(
            make_advice(
                "dmarc_add_record",
                f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}",
                name=f"_dmarc.{org}",
            )
        )
        return verdict_of(None, problems, advice)
    if len(records) > 1:
        problems.append(make_problem("dmarc_multiple_records", name=name, count=len(records)))
        advice.append(make_advice("dmarc_merge_records", records[0], name=name))
        return verdict_of(" | ".join(records), problems, advice)

    record = records[0]
    tags, errors = parse_dmarc(record)
    values = dict(tags)
    if errors:
        for tag, value in errors:
            problems.append(make_problem("dmarc_syntax_error", tag=tag, value=value))
        fixes: dict[str, str | None] = {tag: None for tag, _ in errors if tag in dict(tags)}
        if "p" not in values:
            fixes["p"] = "quarantine"
        fixed = _dmarc_text(
            [(t, v) for t, v in tags if not any(t == e for e, _ in errors)], **fixes
        )
        advice.append(make_advice("dmarc_fix_syntax", fixed, name=name))
        return verdict_of(record, problems, advice)

    policy = values["p"].lower()
    subdomain_policy = values.get("sp", values["p"]).lower()
    effective = subdomain_policy if inherited else policy
    if inherited:
        advice.append(make_advice("dmarc_inherited", org_domain=org, name=name))
    if effective == "none":
        problems.append(make_problem("dmarc_policy_none"))
        change = {"sp": "quarantine"} if inherited and "sp" in values else {"p": "quarantine"}
        advice.append(make_advice("dmarc_raise_policy", _dmarc_text(tags, **change), name=name))
    if "rua" not in values:
        problems.append(make_problem("dmarc_no_rua"))
        address = f"mailto:dmarc-reports@{org}"
        advice.append(make_advice("dmarc_add_rua", _dmarc_text(tags, rua=address), name=name))
    pct = int(values.get("pct", "100"))
    if pct < 100:
        problems.append(make_problem("dmarc_pct_partial", pct=pct))
        advice.append(make_advice("dmarc_remove_pct", _dmarc_text(tags, pct=None), name=name))
    advice.append(
        make_advice(
            "dmarc_explain_alignment",
            adkim="strict" if values.get("adkim", "r").lower() == "s" else "relaxed",
            aspf="strict" if values.get("aspf", "r").lower() == "s" else "relaxed",
        )
    )
    if "sp" in values or inherited:
        advice.append(make_advice("dmarc_explain_subdomain_policy", sp=subdomain_policy))
    return verdict_of(record, problems, advice)
