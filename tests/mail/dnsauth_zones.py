"""Test zones for the SPF/DKIM/DMARC checker, each named for what it proves.

Zone texts contain ``{KEY2048}``-style placeholders that :func:`install` fills
with keys generated at session start (see :func:`make_keys`).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.servers.dns import TestDNS, txt

SMTP_IP = "192.0.2.25"
OTHER_IP = "198.51.100.7"
TENANT = "contoso"


def make_keys() -> dict[str, str]:
    """Return base64 DKIM ``p=`` values keyed by placeholder name.

    OpenSSL 3 (through ``cryptography``) refuses to generate RSA keys below
    1024 bits, so the 512-bit key is a public key built from a random odd
    512-bit modulus: never usable for signing, but it parses like a real
    SubjectPublicKeyInfo, which is all the checker looks at.
    """

    def spki(key: rsa.RSAPublicKey) -> str:
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    key2048 = rsa.generate_private_key(65537, 2048).public_key()
    key1024 = rsa.generate_private_key(65537, 1024).public_key()
    modulus = secrets.randbits(512) | (1 << 511) | 1
    key512 = rsa.RSAPublicNumbers(65537, modulus).public_key()
    pkcs1 = key2048.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    raw_ed = ed.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "KEY2048": spki(key2048),
        "KEY1024": spki(key1024),
        "KEY512": spki(key512),
        "KEY2048_PKCS1": base64.b64encode(pkcs1).decode(),
        "ED25519": base64.b64encode(raw_ed).decode(),
    }


GOOD_KEY = "v=DKIM1; k=rsa; p={KEY2048}"
GOOD_DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"
O365_SPF = "v=spf1 include:spf.protection.outlook.com -all"
IMAP_SPF = f"v=spf1 ip4:{SMTP_IP} -all"


@dataclass
class Case:
    """One test zone and the verdicts it must produce."""

    domain: str
    expect: tuple[str, str, str]  # spf, dkim, dmarc status
    provider: str = "imap"
    spf: list[str] | None = None  # None: the provider's good record
    dkim: dict[str, str] | None = None  # selector -> TXT; None: good key(s)
    o365_cnames: bool = True  # office365 only: CNAME selector1/2 to the tenant
    dmarc: list[str] | None = None  # None: GOOD_DMARC
    extra: str = ""  # more zone lines
    codes: set[str] = field(default_factory=set)  # problem codes that must appear
    kwargs: dict[str, Any] = field(default_factory=dict)
    zone: bool = True  # False: no zone of its own (special names, NXDOMAIN)


def _eleven_lookups(domain: str) -> str:
    """Return zone lines where two includes pull in nine more: 11 lookups."""
    leaves = [f"_l{i}.{domain}" for i in range(9)]
    lines = [
        "_a TXT " + txt("v=spf1 " + " ".join(f"include:{x}" for x in leaves[:5])),
        "_b TXT " + txt("v=spf1 " + " ".join(f"include:{x}" for x in leaves[5:])),
    ]
    lines += [f"_l{i} TXT " + txt(f"v=spf1 ip4:192.0.2.{i} -all") for i in range(9)]
    return "\n".join(lines) + "\n"


def _cases() -> list[Case]:
    o365 = {"provider": "office365"}
    ips = {"smtp_host_ips": [SMTP_IP]}
    return [
        Case("good-o365.nl", ("ok", "ok", "ok"), **o365),
        Case("good-imap.nl", ("ok", "ok", "ok"), kwargs=ips),
        Case(
            "imap-ip-not-covered.nl",
            ("error", "ok", "ok"),
            kwargs={"smtp_host_ips": [OTHER_IP]},
            codes={"spf_ip_not_authorised"},
        ),
        Case(
            "imap-ip-via-mx.nl",
            ("ok", "ok", "ok"),
            spf=["v=spf1 mx -all"],
            extra="@ MX 10 mail\nmail A 192.0.2.30\n",
            kwargs={"smtp_host_ips": ["192.0.2.30"]},
        ),
        Case(
            "imap-ip-via-include.nl",
            ("ok", "ok", "ok"),
            spf=["v=spf1 include:_spf.transip.email -all"],
            kwargs={"smtp_host_ips": ["149.210.1.2"]},
        ),
        Case(
            "imap-known-provider.nl",
            ("ok", "ok", "ok"),
            spf=["v=spf1 include:_spf.transip.email ~all"],
            kwargs={"smtp_host": "smtp.transip.email"},
        ),
        Case(
            "imap-provider-missing.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 mx -all"],
            extra="@ MX 10 mail\nmail A 192.0.2.30\n",
            kwargs={"smtp_host": "smtp.transip.email"},
            codes={"spf_provider_missing"},
        ),
        Case(
            "imap-ip-undecided.nl",
            ("warning", "ok", "ok"),
            spf=["v=spf1 exists:%{i}._spf.imap-ip-undecided.nl -all"],
            kwargs=ips,
            codes={"spf_ip_undecided"},
        ),
        Case(
            "spf-missing.nl",
            ("error", "ok", "ok"),
            spf=["google-site-verification=abc"],
            codes={"spf_missing"},
            **o365,
        ),
        Case(
            "spf-two-records.nl",
            ("error", "ok", "ok"),
            spf=[O365_SPF, "v=spf1 ip4:192.0.2.1 ~all"],
            codes={"spf_multiple_records"},
            **o365,
        ),
        Case(
            "spf-eleven-lookups.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 include:_a.spf-eleven-lookups.nl include:_b.spf-eleven-lookups.nl -all"],
            extra=_eleven_lookups("spf-eleven-lookups.nl"),
            codes={"spf_too_many_lookups"},
        ),
        Case(
            "spf-plus-all.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 ip4:192.0.2.25 +all"],
            codes={"spf_pass_all"},
        ),
        Case(
            "spf-neutral-all.nl",
            ("warning", "ok", "ok"),
            spf=["v=spf1 ip4:192.0.2.25 ?all"],
            codes={"spf_neutral_all"},
        ),
        Case(
            "spf-no-all.nl",
            ("warning", "ok", "ok"),
            spf=["v=spf1 ip4:192.0.2.25"],
            codes={"spf_no_all"},
        ),
        Case(
            "spf-include-loop.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 include:a.spf-include-loop.nl -all"],
            extra=(
                'a TXT "v=spf1 include:b.spf-include-loop.nl -all"\n'
                'b TXT "v=spf1 include:a.spf-include-loop.nl -all"\n'
            ),
            codes={"spf_include_loop"},
        ),
        Case(
            "spf-split-strings.nl",
            ("ok", "ok", "ok"),
            spf=None,
            extra='@ TXT "v=spf1 ip4:192.0.2.25 " "ip4:192.0.2.26 " "-all"\n',
            kwargs=ips,
        ),
        Case(
            "spf-syntax-error.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 ip4:192.0.2.300 foo:bar -all"],
            codes={"spf_syntax_error"},
        ),
        Case(
            "spf-void-lookups.nl",
            ("error", "ok", "ok"),
            spf=[
                "v=spf1 a:n1.spf-void-lookups.nl a:n2.spf-void-lookups.nl "
                "mx:n3.spf-void-lookups.nl ip4:192.0.2.25 -all"
            ],
            codes={"spf_too_many_void_lookups"},
        ),
        Case(
            "spf-include-missing.nl",
            ("error", "ok", "ok"),
            spf=["v=spf1 include:nothing.spf-include-missing.nl -all"],
            codes={"spf_include_missing"},
        ),
        Case(
            "dkim-o365-cnames-missing.nl",
            ("ok", "error", "ok"),
            o365_cnames=False,
            dkim={},
            codes={"dkim_missing_selector"},
            **o365,
        ),
        Case(
            "dkim-o365-not-enabled.nl",
            ("ok", "warning", "ok"),
            dkim={},
            o365_cnames=False,
            extra=(
                "selector1._domainkey CNAME selector1-x._domainkey.unknown.onmicrosoft.com.\n"
                "selector2._domainkey CNAME selector2-x._domainkey.unknown.onmicrosoft.com.\n"
            ),
            codes={"dkim_cname_target_missing"},
            **o365,
        ),
        Case(
            "dkim-512.nl",
            ("ok", "error", "ok"),
            dkim={"selector1": "v=DKIM1; k=rsa; p={KEY512}"},
            codes={"dkim_key_too_short"},
        ),
        Case(
            "dkim-1024.nl",
            ("ok", "warning", "ok"),
            dkim={"default": "v=DKIM1; k=rsa; p={KEY1024}"},
            codes={"dkim_key_weak"},
        ),
        Case(
            "dkim-revoked.nl",
            ("ok", "error", "ok"),
            dkim={"mail": "v=DKIM1; k=rsa; p="},
            codes={"dkim_key_revoked"},
        ),
        Case("dkim-pkcs1.nl", ("ok", "ok", "ok"), dkim={"k1": "k=rsa; p={KEY2048_PKCS1}"}),
        Case("dkim-ed25519.nl", ("ok", "ok", "ok"), dkim={"s1": "v=DKIM1; k=ed25519; p={ED25519}"}),
        Case(
            "dkim-garbage.nl",
            ("ok", "error", "ok"),
            dkim={"dkim": "v=DKIM1; k=rsa; p=bm90IGEga2V5"},
            codes={"dkim_key_invalid"},
        ),
        Case("dkim-none.nl", ("ok", "warning", "ok"), dkim={}, codes={"dkim_not_found"}),
        Case(
            "dkim-admin-selector.nl",
            ("ok", "ok", "ok"),
            dkim={"custom2024": GOOD_KEY},
            kwargs={"selectors": ["custom2024"]},
        ),
        Case(
            "dkim-admin-selector-missing.nl",
            ("ok", "error", "ok"),
            kwargs={"selectors": ["typo"]},
            codes={"dkim_selector_not_found"},
        ),
        Case("dmarc-missing.nl", ("ok", "ok", "error"), dmarc=[], codes={"dmarc_missing"}),
        Case(
            "dmarc-p-none.nl",
            ("ok", "ok", "warning"),
            dmarc=["v=DMARC1; p=none; rua=mailto:d@dmarc-p-none.nl"],
            codes={"dmarc_policy_none"},
        ),
        Case(
            "dmarc-pct-50.nl",
            ("ok", "ok", "warning"),
            dmarc=["v=DMARC1; p=quarantine; pct=50; rua=mailto:d@dmarc-pct-50.nl"],
            codes={"dmarc_pct_partial"},
        ),
        Case(
            "dmarc-no-rua.nl",
            ("ok", "ok", "warning"),
            dmarc=["v=DMARC1; p=reject"],
            codes={"dmarc_no_rua"},
        ),
        Case(
            "dmarc-two-records.nl",
            ("ok", "ok", "error"),
            dmarc=["v=DMARC1; p=reject; rua=mailto:a@x.nl", "v=DMARC1; p=none"],
            codes={"dmarc_multiple_records"},
        ),
        Case(
            "dmarc-syntax-error.nl",
            ("ok", "ok", "error"),
            dmarc=["v=DMARC1; p=block; rua=mailto:d@dmarc-syntax-error.nl"],
            codes={"dmarc_syntax_error"},
        ),
        # A subdomain sender without its own DMARC record: the organisational
        # domain's record applies (RFC 7489 §6.6.3).
        Case("mail.dmarc-org-only.nl", ("ok", "ok", "ok"), dmarc=[]),
        Case(
            "servfail.test",
            ("unknown", "unknown", "unknown"),
            zone=False,
            codes={"dns_failure"},
            **o365,
        ),
        Case(
            "timeout.test",
            ("unknown", "unknown", "unknown"),
            zone=False,
            codes={"dns_failure"},
        ),
        Case(
            "does-not-exist.nl",
            ("error", "error", "error"),
            zone=False,
            codes={"domain_not_found"},
            **o365,
        ),
    ]


CASES = _cases()


def _zone_text(case: Case, fill: Callable[[str], str]) -> str:
    lines = [case.extra]
    if case.spf is None and "spf-split" not in case.domain:
        lines.append("@ TXT " + txt(O365_SPF if case.provider == "office365" else IMAP_SPF))
    for record in case.spf or []:
        lines.append("@ TXT " + txt(record))
    if case.provider == "office365":
        if case.o365_cnames:
            dashed = case.domain.replace(".", "-")
            for selector in ("selector1", "selector2"):
                lines.append(
                    f"{selector}._domainkey CNAME "
                    f"{selector}-{dashed}._domainkey.{TENANT}.onmicrosoft.com."
                )
    else:
        dkim = {"selector1": GOOD_KEY} if case.dkim is None else case.dkim
        for selector, record in dkim.items():
            lines.append(f"{selector}._domainkey TXT {txt(fill(record))}")
    for record in [GOOD_DMARC] if case.dmarc is None else case.dmarc:
        lines.append("_dmarc TXT " + txt(record.replace("{domain}", case.domain)))
    return "\n".join(lines) + "\n"


def install(server: TestDNS, keys: dict[str, str]) -> None:
    """Serve every case's zone plus the provider zones they refer to."""

    def fill(text: str) -> str:
        for name, value in keys.items():
            text = text.replace("{" + name + "}", value)
        return text

    # Parent zone: makes unknown .nl names NXDOMAIN instead of REFUSED.
    server.set_zone("nl", "")
    server.set_zone(
        "outlook.com",
        "spf.protection TXT "
        + txt(
            "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 "
            "ip6:2a01:111:f400::/48 include:spfd.protection.outlook.com -all"
        )
        + "\nspfd.protection TXT "
        + txt("v=spf1 ip4:51.4.72.0/24 -all")
        + "\n",
    )
    server.set_zone("transip.email", "_spf TXT " + txt("v=spf1 ip4:149.210.0.0/16 -all") + "\n")
    tenant_lines = []
    for case in CASES:
        if case.provider == "office365" and case.o365_cnames and case.zone:
            dashed = case.domain.replace(".", "-")
            for selector in ("selector1", "selector2"):
                tenant_lines.append(
                    f"{selector}-{dashed}._domainkey.{TENANT} TXT {txt(fill(GOOD_KEY))}"
                )
    server.set_zone("onmicrosoft.com", "\n".join(tenant_lines) + "\n")
    for case in CASES:
        if not case.zone:
            continue
        if case.domain.startswith("mail.dmarc-org-only"):
            server.set_zone(
                "dmarc-org-only.nl",
                "_dmarc TXT " + txt("v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@x.nl") + "\n",
            )
        server.set_zone(case.domain, _zone_text(case, fill))
