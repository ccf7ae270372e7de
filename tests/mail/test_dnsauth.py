"""Tests of the SPF/DKIM/DMARC checker against the in-process DNS server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import dns.resolver
import pytest

from postkamer.mail import dnsauth
from postkamer.mail.dnsauth import (
    ADVICE_CODES,
    PROBLEM_SEVERITY,
    DomainReport,
    check_domain,
    make_resolver,
    organisational_domain,
    parse_dkim_key,
    parse_dmarc,
    parse_spf,
    selectors_from_headers,
    spf_with_term,
)
from postkamer.mail.dnsauth.text import MESSAGES, describe, format_report
from tests.mail.dnsauth_zones import CASES, OTHER_IP, SMTP_IP, Case, install, make_keys
from tests.servers.dns import TestDNS


@pytest.fixture(scope="session")
def dkim_keys() -> dict[str, str]:
    return make_keys()


@pytest.fixture(scope="session")
def zones(dns_server: TestDNS, dkim_keys: dict[str, str]) -> TestDNS:
    install(dns_server, dkim_keys)
    return dns_server


@pytest.fixture(scope="session")
def reports(zones: TestDNS, dns_resolver_spec: str) -> dict[str, tuple[DomainReport, float]]:
    """Every case checked once (the slow time-out case included), with its duration."""
    results = {}
    for case in CASES:
        started = time.monotonic()
        report = check_domain(
            case.domain,
            provider=case.provider,
            resolver=make_resolver(dns_resolver_spec),
            **case.kwargs,
        )
        results[case.domain] = (report, time.monotonic() - started)
    return results


def _codes(report: DomainReport) -> set[str]:
    return {p.code for v in (report.spf, report.dkim, report.dmarc) for p in v.problems}


@pytest.mark.parametrize("case", CASES, ids=[c.domain for c in CASES])
def test_zone_verdicts(case: Case, reports: dict[str, tuple[DomainReport, float]]) -> None:
    report, elapsed = reports[case.domain]
    got = (report.spf.status, report.dkim.status, report.dmarc.status)
    assert got == case.expect, json.dumps(report.to_dict(), indent=1)
    assert case.codes <= _codes(report), _codes(report)
    # Even a dead name must not hold the security tab up.
    assert elapsed < 4.0


def test_domain_does_not_exist_says_so(reports: dict[str, tuple[DomainReport, float]]) -> None:
    report, _ = reports["does-not-exist.nl"]
    for verdict in (report.spf, report.dkim, report.dmarc):
        assert [p.code for p in verdict.problems] == ["domain_not_found"]
        assert "does not exist" in describe("domain_not_found", verdict.problems[0].params)


def test_servfail_and_timeout_are_unknown_with_try_later(
    reports: dict[str, tuple[DomainReport, float]],
) -> None:
    for domain, reason in (("servfail.test", "servfail"), ("timeout.test", "timeout")):
        report, _ = reports[domain]
        for verdict in (report.spf, report.dkim, report.dmarc):
            assert verdict.status == "unknown"
            assert {p.code for p in verdict.problems} == {"dns_failure"}
            assert verdict.problems[0].params["reason"] == reason
            assert [a.code for a in verdict.advice] == ["try_again_later"]


def _advice(report_part: dnsauth.Verdict, code: str) -> dnsauth.Advice:
    matches = [a for a in report_part.advice if a.code == code]
    assert matches, [a.code for a in report_part.advice]
    return matches[0]


def test_advice_records(reports: dict[str, tuple[DomainReport, float]]) -> None:
    spf = reports["spf-missing.nl"][0].spf
    assert _advice(spf, "spf_add_record").record == (
        "v=spf1 include:spf.protection.outlook.com -all"
    )
    spf = reports["imap-ip-not-covered.nl"][0].spf
    assert spf.problems[0].params == {"ip": OTHER_IP, "result": "fail"}
    assert _advice(spf, "spf_authorise_ip").record == (f"v=spf1 ip4:{SMTP_IP} ip4:{OTHER_IP} -all")
    spf = reports["imap-provider-missing.nl"][0].spf
    assert _advice(spf, "spf_add_include").record == "v=spf1 mx include:_spf.transip.email -all"
    spf = reports["spf-plus-all.nl"][0].spf
    assert _advice(spf, "spf_end_with_fail_all").record == f"v=spf1 ip4:{SMTP_IP} -all"
    spf = reports["spf-two-records.nl"][0].spf
    assert _advice(spf, "spf_merge_records").record == (
        "v=spf1 include:spf.protection.outlook.com ip4:192.0.2.1 -all"
    )
    spf = reports["spf-eleven-lookups.nl"][0].spf
    assert {"count": 11, "limit": 10} in [p.params for p in spf.problems]
    spf = reports["spf-void-lookups.nl"][0].spf
    assert {"count": 3, "limit": 2} in [p.params for p in spf.problems]

    dkim = reports["dkim-o365-cnames-missing.nl"][0].dkim
    cname = _advice(dkim, "dkim_add_o365_cname")
    assert cname.params["name"] == "selector1._domainkey.dkim-o365-cnames-missing.nl"
    assert cname.record == (
        "selector1-dkim-o365-cnames-missing-nl._domainkey.<tenant>.onmicrosoft.com"
    )
    dkim = reports["dkim-o365-not-enabled.nl"][0].dkim
    assert [a.code for a in dkim.advice] == ["dkim_enable_o365"]
    assert dkim.record is not None and dkim.record.startswith("selector1: CNAME selector1-x.")
    assert reports["dkim-512.nl"][0].dkim.problems[0].params == {
        "selector": "selector1",
        "bits": 512,
    }
    assert reports["dkim-1024.nl"][0].dkim.problems[0].params["bits"] == 1024

    dmarc = reports["dmarc-missing.nl"][0].dmarc
    assert _advice(dmarc, "dmarc_add_record").record == (
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@dmarc-missing.nl"
    )
    dmarc = reports["dmarc-p-none.nl"][0].dmarc
    assert _advice(dmarc, "dmarc_raise_policy").record == (
        "v=DMARC1; p=quarantine; rua=mailto:d@dmarc-p-none.nl"
    )
    dmarc = reports["dmarc-pct-50.nl"][0].dmarc
    assert _advice(dmarc, "dmarc_remove_pct").record == (
        "v=DMARC1; p=quarantine; rua=mailto:d@dmarc-pct-50.nl"
    )
    dmarc = reports["dmarc-no-rua.nl"][0].dmarc
    assert _advice(dmarc, "dmarc_add_rua").record == (
        "v=DMARC1; p=reject; rua=mailto:dmarc-reports@dmarc-no-rua.nl"
    )
    dmarc = reports["mail.dmarc-org-only.nl"][0].dmarc
    assert _advice(dmarc, "dmarc_inherited").params["org_domain"] == "dmarc-org-only.nl"
    assert _advice(dmarc, "dmarc_explain_subdomain_policy").params == {"sp": "quarantine"}
    assert dmarc.record is not None and "sp=quarantine" in dmarc.record


def test_found_records_are_reported(reports: dict[str, tuple[DomainReport, float]]) -> None:
    report = reports["good-o365.nl"][0]
    assert report.spf.record == "v=spf1 include:spf.protection.outlook.com -all"
    assert report.dkim.record is not None
    assert report.dkim.record.startswith("selector1: v=DKIM1; k=rsa; p=")
    assert "\nselector2: " in report.dkim.record
    split = reports["spf-split-strings.nl"][0].spf.record
    assert split == "v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all"


def test_to_dict_shape_and_json(reports: dict[str, tuple[DomainReport, float]]) -> None:
    for report, _ in reports.values():
        data = json.loads(json.dumps(report.to_dict()))
        assert set(data) == {"checked_at", "domain", "spf", "dkim", "dmarc"}
        assert data["checked_at"].endswith("+00:00")
        for key in ("spf", "dkim", "dmarc"):
            verdict = data[key]
            assert set(verdict) == {"status", "record", "problems", "advice"}
            assert verdict["status"] in ("ok", "warning", "error", "unknown")
            for problem in verdict["problems"]:
                assert set(problem) == {"code", "params", "message"}
                assert "{" not in problem["message"], problem
            for advice in verdict["advice"]:
                assert set(advice) == {"code", "params", "record", "message"}
                assert "{" not in advice["message"], advice
    print(format_report(reports["good-o365.nl"][0]))


def test_every_code_has_an_english_sentence() -> None:
    assert set(PROBLEM_SEVERITY) | ADVICE_CODES == set(MESSAGES)
    # Codes written in the source must be declared (and so have a sentence).
    source = "".join(p.read_text() for p in Path(dnsauth.__file__).parent.glob("*.py"))
    used = set(re.findall(r'make_(?:problem|advice)\(\s*"([a-z0-9_]+)"', source))
    assert {"spf_missing", "dkim_missing_selector", "dmarc_missing", "dns_failure"} <= used
    used |= set(re.findall(r'\("(dkim_[a-z_]+)", \{', source))
    assert used <= set(MESSAGES), used - set(MESSAGES)
    assert describe("spf_too_many_lookups", {"count": 11, "limit": 10}).startswith(
        "The SPF record needs 11 DNS lookups"
    )
    assert describe("no_such_code", {}) == "no_such_code"
    assert "%(count)s" in describe("spf_too_many_lookups", {})


def test_make_resolver_spec(zones: TestDNS, dns_resolver_spec: str) -> None:
    resolver = make_resolver(dns_resolver_spec, timeout=1.5)
    assert resolver.lifetime == 1.5
    answer = resolver.resolve("good-imap.nl", "TXT")
    assert b"".join(answer[0].strings).decode() == f"v=spf1 ip4:{SMTP_IP} -all"
    both = make_resolver("127.0.0.1:5353,10.0.0.1,[::1]:54")
    assert [(n.address, n.port) for n in both.nameservers] == [
        ("127.0.0.1", 5353),
        ("10.0.0.1", 53),
        ("::1", 54),
    ]
    for bad in ("dns.example.nl", "127.0.0.1:0", "[::1", "1.2.3.4:x"):
        with pytest.raises(ValueError):
            make_resolver(bad)


def test_dead_resolver_is_unknown_and_quick() -> None:
    # Nothing listens on the discard port: the lookups fail or time out.
    started = time.monotonic()
    report = check_domain(
        "good-o365.nl", provider="office365", resolver=make_resolver("127.0.0.1:9"), timeout=1.0
    )
    assert time.monotonic() - started < 2.5
    assert (report.spf.status, report.dkim.status, report.dmarc.status) == ("unknown",) * 3


def test_invalid_domain_never_raises() -> None:
    resolver = dns.resolver.Resolver(configure=False)
    for domain in ("", "not a domain", "user@example.nl", "nodot", "a" * 70 + ".nl"):
        report = check_domain(domain, resolver=resolver)
        assert report.spf.status == "error"
        assert report.spf.problems[0].code == "domain_invalid"


def test_case_and_trailing_dot_are_normalised(zones: TestDNS, dns_resolver_spec: str) -> None:
    report = check_domain(
        " Good-O365.NL. ", provider="office365", resolver=make_resolver(dns_resolver_spec)
    )
    assert report.domain == "good-o365.nl"
    assert (report.spf.status, report.dkim.status, report.dmarc.status) == ("ok",) * 3


def test_runtime_zone_change(zones: TestDNS, dns_resolver_spec: str) -> None:
    zones.set_zone("runtime.nl", '@ TXT "v=spf1 ip4:192.0.2.25 +all"')
    resolver = make_resolver(dns_resolver_spec)
    assert check_domain("runtime.nl", resolver=resolver).spf.status == "error"
    zones.set_zone("runtime.nl", '@ TXT "v=spf1 ip4:192.0.2.25 -all"')
    assert check_domain("runtime.nl", resolver=resolver).spf.status == "ok"
    zones.remove_zone("runtime.nl")


# --- pure functions -------------------------------------------------------


def test_parse_spf_terms() -> None:
    terms, bad = parse_spf(
        "v=spf1 a mx/24 a:x.nl/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "include:_spf.google.com exists:%{i}._spf.x.nl ptr ~all exp=explain.x.nl"
    )
    assert bad == []
    assert [t.name for t in terms] == [
        "a", "mx", "a", "ip4", "ip6", "include", "exists", "ptr", "all", "exp",
    ]  # fmt: skip
    assert (terms[2].value, terms[2].cidr4, terms[2].cidr6) == ("x.nl", 24, 64)
    assert terms[8].qualifier == "~"
    _, bad = parse_spf(
        "v=spf1 ip4:300.1.1.1 ip6:1.2.3.4 include: foo:bar all:x a/33 "
        "redirect=a.nl redirect=b.nl exists:%{z}.x.nl"
    )
    assert bad == [
        "ip4:300.1.1.1", "ip6:1.2.3.4", "include:", "foo:bar", "all:x", "a/33",
        "redirect=b.nl", "exists:%{z}.x.nl",
    ]  # fmt: skip
    assert parse_spf("v=spf2 -all")[1] == ["v=spf2"]


def test_spf_with_term() -> None:
    assert spf_with_term("v=spf1 mx -all", "ip4:1.2.3.4") == "v=spf1 mx ip4:1.2.3.4 -all"
    assert spf_with_term("v=spf1 mx redirect=x.nl", "a") == "v=spf1 mx a redirect=x.nl"
    assert spf_with_term("v=spf1 mx", "a") == "v=spf1 mx a"


def test_parse_dkim_key(dkim_keys: dict[str, str]) -> None:
    assert parse_dkim_key(f"v=DKIM1; k=rsa; p={dkim_keys['KEY2048']}") == ([], 2048)
    # Keys are often published wrapped over several strings with spaces.
    spaced = " ".join(re.findall(".{1,60}", dkim_keys["KEY2048_PKCS1"]))
    assert parse_dkim_key(f"k=rsa; p={spaced}") == ([], 2048)
    assert parse_dkim_key(f"v=DKIM1; p={dkim_keys['KEY512']}")[0][0] == (
        "dkim_key_too_short",
        {"bits": 512},
    )
    assert parse_dkim_key("v=DKIM1; p=")[0] == [("dkim_key_revoked", {})]
    assert parse_dkim_key("v=DKIM1; k=rsa")[0] == [("dkim_syntax_error", {"tag": "p"})]
    assert parse_dkim_key("v=DKIM2; p=abc")[0] == [("dkim_syntax_error", {"tag": "v"})]
    assert parse_dkim_key("p=@@@")[0] == [("dkim_key_invalid", {})]
    assert parse_dkim_key("k=dsa; p=AAAA")[0] == [("dkim_unknown_key_type", {"type": "dsa"})]
    codes = [c for c, _ in parse_dkim_key(f"t=y; p={dkim_keys['KEY2048']}")[0]]
    assert codes == ["dkim_testing_mode"]
    assert parse_dkim_key(f"k=ed25519; p={dkim_keys['ED25519']}") == ([], None)
    assert parse_dkim_key(f"k=ed25519; p={dkim_keys['KEY1024']}")[0] == [("dkim_key_invalid", {})]


def test_parse_dmarc() -> None:
    tags, errors = parse_dmarc(
        "v=DMARC1; p=reject; sp=none; adkim=s; aspf=r; pct=100; "
        "rua=mailto:a@x.nl,mailto:b@y.nl!10m; ruf=mailto:f@x.nl; fo=1:d; ri=86400; foo=bar;"
    )
    assert errors == []
    assert dict(tags)["sp"] == "none"
    assert parse_dmarc("v=DMARC1; p=block")[1] == [("p", "block")]
    assert parse_dmarc("v=DMARC1; rua=mailto:a@x.nl")[1] == [("p", "")]
    assert parse_dmarc("v=DMARC1; p=none; pct=150")[1] == [("pct", "150")]
    assert parse_dmarc("v=DMARC1; p=none; rua=a@x.nl")[1] == [("rua", "a@x.nl")]
    assert parse_dmarc("v=DMARC1; p=none; p=reject")[1] == [("p", "reject")]
    assert parse_dmarc("p=none; v=DMARC1")[1][0] == ("p", "none")


def test_organisational_domain() -> None:
    assert organisational_domain("kantoor.nl") == "kantoor.nl"
    assert organisational_domain("mail.kantoor.nl") == "kantoor.nl"
    assert organisational_domain("a.b.kantoor.nl.") == "kantoor.nl"
    assert organisational_domain("www.kantoor.co.uk") == "kantoor.co.uk"
    assert organisational_domain("kantoor.com.au") == "kantoor.com.au"
    assert organisational_domain("nl") == "nl"
    assert organisational_domain("") == ""


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        # Suffixes a hand-made list missed: ICANN (gc.ca) and private-section
        # registries (co.nl, com.de, eu.com) that sell names to unrelated offices.
        ("mail.kantoor.co.nl", "kantoor.co.nl"),
        ("kantoor.co.nl", "kantoor.co.nl"),
        ("smtp.kantoor.com.de", "kantoor.com.de"),
        ("mail.kantoor.gc.ca", "kantoor.gc.ca"),
        ("mail.kantoor.eu.com", "kantoor.eu.com"),
        ("Mail.Kantoor.EU.com.", "kantoor.eu.com"),
        # A public suffix itself has no organisation above it.
        ("eu.com", "eu.com"),
        ("co.nl", "co.nl"),
        # A name under an unknown top-level domain: the last label is the suffix.
        ("mail.kantoor.test", "kantoor.test"),
    ],
)
def test_organisational_domain_follows_the_public_suffix_list(domain: str, expected: str) -> None:
    assert organisational_domain(domain) == expected


def test_the_suffix_list_is_the_packaged_one_and_needs_no_network() -> None:
    # Every connection and name lookup refused: the list must come from the
    # installed package.
    code = (
        "import sys\n"
        "def refuse(event, args):\n"
        "    if event in ('socket.connect', 'socket.sendto', 'socket.getaddrinfo'):\n"
        "        raise OSError('no network in this test')\n"
        "sys.addaudithook(refuse)\n"
        "from postkamer.mail.dnsauth import organisational_domain\n"
        "print(organisational_domain('mail.kantoor.eu.com'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kantoor.eu.com"


@pytest.mark.parametrize("org", ["kantoor.co.nl", "kantoor.eu.com"])
def test_the_dmarc_fallback_asks_the_organisation_not_the_public_suffix(
    zones: TestDNS, dns_resolver_spec: str, org: str
) -> None:
    suffix = org.partition(".")[2]
    # The registry publishes a policy of its own: it must not count for its customers.
    zones.set_zone(suffix, '_dmarc TXT "v=DMARC1; p=none; rua=mailto:registry@' + suffix + '"')
    zones.set_zone(org, 'mail TXT "v=spf1 -all"')
    resolver = make_resolver(dns_resolver_spec)
    try:
        before = len(zones.queries)
        dmarc = check_domain(f"mail.{org}", resolver=resolver).dmarc
        asked = [name for name, _ in zones.queries[before:] if name.startswith("_dmarc.")]
        assert asked == [f"_dmarc.mail.{org}", f"_dmarc.{org}"]
        assert dmarc.status == "error"
        assert [p.code for p in dmarc.problems] == ["dmarc_missing"]
        add = _advice(dmarc, "dmarc_add_record")
        assert add.params["name"] == f"_dmarc.{org}"
        assert add.record == f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}"
        # With a record at the organisational domain, that one applies.
        zones.add_records(org, '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@' + org + '"')
        dmarc = check_domain(f"mail.{org}", resolver=resolver).dmarc
        assert dmarc.status == "ok"
        assert _advice(dmarc, "dmarc_inherited").params["org_domain"] == org
    finally:
        zones.remove_zone(org)
        zones.remove_zone(suffix)


RECEIVED_FROM_O365 = b"""\
Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208::1)
 by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Mon, 3 Mar 2025
 10:00:00 +0000
Authentication-Results: spf=pass (sender IP is 40.107.1.2)
 smtp.mailfrom=klant.nl; dkim=pass (signature was verified)
 header.d=klant.nl;dmarc=pass action=none header.from=klant.nl;compauth=pass
 reason=100
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=klant.nl;
 s=selector1; h=From:Date:Subject:Message-ID:Content-Type:MIME-Version;
 bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
 b=dGVzdA==
From: Klant <info@klant.nl>
Subject: Offerte

"""

RECEIVED_FROM_GMAIL = """\
Authentication-Results: mx.kantoor.nl;
\tdkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com
 header.b="AbCdEf12"; dkim=pass header.i=@adviseur.nl header.s=20230601 header.b=x;
\tdkim=none; spf=pass smtp.mailfrom=adviseur.nl
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
        d=gmail.com; s=20230601; t=1700000000; x=1700604800;
        h=to:subject:message-id:date:from:mime-version:from:to:cc:subject
         :date:message-id:reply-to;
        bh=abc=; b=def=
"""


def test_selectors_from_headers() -> None:
    sent = "DKIM-Signature: v=1; a=rsa-sha256; d=Kantoor.NL; s=Default; bh=x; b=y"
    pairs = selectors_from_headers([RECEIVED_FROM_O365, RECEIVED_FROM_GMAIL, sent, b"", "junk"])
    # Per header block, DKIM-Signature (the evidence itself) comes before
    # what a receiver wrote in Authentication-Results.
    assert pairs == [
        ("klant.nl", "selector1"),
        ("gmail.com", "20230601"),
        ("adviseur.nl", "20230601"),
        ("kantoor.nl", "default"),
    ]
    # Header blocks that repeat a pair do not repeat it in the result.
    assert selectors_from_headers([sent, sent.encode()]) == [("kantoor.nl", "default")]


def test_package_is_django_free() -> None:
    code = (
        "import importlib, pkgutil, sys, postkamer.mail.dnsauth as p\n"
        "names = [m.name for m in pkgutil.iter_modules(p.__path__, 'postkamer.mail.dnsauth.')]\n"
        "assert {'postkamer.mail.dnsauth.spf', 'postkamer.mail.dnsauth.text'} <= set(names)\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "sys.exit('django' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
