"""DKIM (RFC 6376, RFC 8463): are the keys of the domain's selectors published and sound?"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

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

O365_DKIM_SELECTORS = ("selector1", "selector2")
#: Selectors given to the check that are looked up at most: the mailbox's own
#: and those its mail proves in use (five at most) fit.
MAX_CHECKED_SELECTORS = 8

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


@dataclass
class KeyLookup:
    """What ``selector._domainkey.domain`` holds."""

    selector: str
    name: str
    state: str  # "found", "absent", "dangling" (CNAME to nothing), "failed"
    record: str | None = None
    target: str | None = None
    failure: TempFail | None = None


def lookup_key(lookups: Lookups, domain: str, selector: str) -> KeyLookup:
    """Look up the key record of ``selector`` at ``domain``, following CNAMEs
    (at most six); raises nothing (a failed lookup is the ``failed`` state)."""
    name = f"{selector}._domainkey.{domain}"
    current = name
    try:
        # A stub resolver only follows CNAMEs the server put in the answer;
        # follow the rest ourselves (Office 365 points at onmicrosoft.com).
        for _hop in range(6):
            _answer, texts = lookups.txt(current)
            keys = [t for t in texts if "p=" in t or t.strip().lower().startswith("v=dkim1")]
            if keys or texts:
                return KeyLookup(selector, name, "found", (keys or texts)[0], current)
            cname = lookups.query(current, "CNAME")
            if not cname.records:
                break
            current = cname.records[0].target.to_text(omit_final_dot=True).lower()
    except TempFail as failure:
        return KeyLookup(selector, name, "failed", failure=failure)
    if current != name:
        return KeyLookup(selector, name, "dangling", target=current)
    return KeyLookup(selector, name, "absent")


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


def check_dkim(lookups: Lookups, domain: str, provider: str, selectors: Sequence[str]) -> Verdict:
    """Return the DKIM verdict of ``domain``: ``selectors`` (and Office 365's
    two) must exist; the usual selectors are tried besides (unless Office 365).

    Of ``selectors`` only the first :data:`MAX_CHECKED_SELECTORS` valid ones
    (:func:`is_valid_selector`) are looked up; the others are never looked up
    nor shown, so a list from outside cannot make the check ask or say much.
    """
    valid = (s.strip().lower() for s in selectors if s and is_valid_selector(s.strip()))
    explicit = _unique(valid)[:MAX_CHECKED_SELECTORS]
    required = list(O365_DKIM_SELECTORS) if provider == "office365" else []
    candidates = _unique([*explicit, *required, *([] if required else KNOWN_DKIM_SELECTORS)])

    results: list[KeyLookup] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: lookup_key(lookups, domain, s), candidates))

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
                return not_found_verdict(domain)
        except TempFail as failure:
            return failed_verdict(failure.name, failure.reason)

    for result in results:
        if result.state == "found" and result.record is not None:
            records.append(f"{result.selector}: {result.record}")
            codes, _bits = parse_dkim_key(result.record)
            for code, params in codes:
                problems.append(make_problem(code, selector=result.selector, **params))
                advice.append(
                    make_advice(
                        _DKIM_KEY_ADVICE[code],
                        selector=result.selector,
                        name=result.name,
                        **{k: v for k, v in params.items() if k == "bits"},
                    )
                )
        elif result.state == "dangling":
            problems.append(
                make_problem(
                    "dkim_cname_target_missing",
                    selector=result.selector,
                    target=result.target or "",
                )
            )
            records.append(f"{result.selector}: CNAME {result.target}")
            if required:
                # One switch in Microsoft Defender publishes both keys.
                advice.append(make_advice("dkim_enable_o365"))
            else:
                advice.append(
                    make_advice("dkim_publish_key", selector=result.selector, name=result.name)
                )
        elif result.state == "absent" and result.selector in must_exist:
            if result.selector in required:
                problems.append(
                    make_problem(
                        "dkim_missing_selector", selector=result.selector, name=result.name
                    )
                )
                target = _o365_target(result.selector, domain)
                advice.append(
                    make_advice(
                        "dkim_add_o365_cname",
                        target,
                        selector=result.selector,
                        name=result.name,
                        target=target,
                    )
                )
            else:
                problems.append(
                    make_problem(
                        "dkim_selector_not_found", selector=result.selector, name=result.name
                    )
                )
                advice.append(
                    make_advice("dkim_publish_key", selector=result.selector, name=result.name)
                )

    essential_failures = [r for r in failures if r.selector in must_exist or not found]
    if essential_failures:
        first = essential_failures[0].failure
        assert first is not None
        problems.append(make_problem("dns_failure", name=first.name, reason=first.reason))
        advice.append(make_advice("try_again_later"))
    elif not found and not must_exist:
        problems.append(make_problem("dkim_not_found", selectors=", ".join(candidates)))
        advice.append(
            make_advice(
                "dkim_publish_key", selector="<selector>", name=f"<selector>._domainkey.{domain}"
            )
        )
        advice.append(make_advice("dkim_enter_selector"))
    return verdict_of("\n".join(records) or None, problems, advice)


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_SELECTOR_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.ASCII)
#: The longest selector accepted: room for ``._domainkey.`` and the domain in
#: a 253-character name.
SELECTOR_MAX_LENGTH = 200


def is_valid_selector(value: str) -> bool:
    """Return True when ``value`` is a DKIM selector we may look up and show:
    DNS labels of letters, digits, ``-`` and ``_`` (not at either end), joined
    by dots, at most :data:`SELECTOR_MAX_LENGTH` characters. The one rule for
    typed selectors and selectors found in mail."""
    return len(value) <= SELECTOR_MAX_LENGTH and bool(_SELECTOR_RE.fullmatch(value))
