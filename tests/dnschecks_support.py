"""Shared set-up for the security tab, API and check-dns tests: the checker's
test zones (tests/mail/dnsauth_zones.py) on the session's test DNS server, and
mail signed with a real DKIM key published there (or forged)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.mail.dnsauth_zones import SMTP_IP, Case, _zone_text, install, make_keys
from tests.servers.dns import TestDNS, txt

_keys: dict[int, dict[str, str]] = {}


def install_zones(server: TestDNS) -> dict[str, str]:
    """Serve every checker test zone (once per server); return the DKIM keys used."""
    keys = _keys.get(id(server))
    if keys is None:
        keys = make_keys()
        install(server, keys)
        _keys[id(server)] = keys
    return keys


def serve_case(server: TestDNS, case: Case) -> None:
    """Serve ``case``'s zone, e.g. one a test breaks and fixes on its own domain."""
    keys = install_zones(server)

    def fill(text: str) -> str:
        for name, value in keys.items():
            text = text.replace("{" + name + "}", value)
        return text

    server.set_zone(case.domain, _zone_text(case, fill))


@dataclass
class Signer:
    """A domain with a real DKIM key published on the test DNS server."""

    domain: str
    selector: str
    private_pem: bytes

    def sign(self, raw: bytes, domain: str | None = None) -> bytes:
        """Return ``raw`` with a DKIM-Signature made with this key (as an outgoing
        server would add it); ``domain`` puts another ``d=`` in the signature."""
        header = dkim.sign(
            raw,
            self.selector.encode(),
            (domain or self.domain).encode(),
            self.private_pem,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        return header + raw


def serve_signer(server: TestDNS, domain: str, selector: str = "real2026") -> Signer:
    """Serve ``domain`` with good SPF/DMARC records and a fresh 2048-bit DKIM key
    at ``selector``; return what signs mail with it."""
    key = rsa.generate_private_key(65537, 2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    server.set_zone(
        domain,
        "@ TXT " + txt(f"v=spf1 ip4:{SMTP_IP} -all") + "\n"
        f"{selector}._domainkey TXT "
        + txt(f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")
        + "\n_dmarc TXT "
        + txt(f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}")
        + "\n",
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return Signer(domain, selector, pem)


def plain_message(sender: str, subject: str = "Offerte", body: str = "Beste collega,\r\n") -> bytes:
    """A small message from ``sender`` to the shared mailbox."""
    return (
        f"From: Collega <{sender}>\r\nTo: info@{sender.rpartition('@')[2]}\r\n"
        f"Subject: {subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0100\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@{sender.rpartition('@')[2]}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


#: What the selectors of the spoofed message look like: plausible ones, and ones that
#: must never be shown or looked up (markup, a space, a path, an over-long label, a
#: leading hyphen, a non-ASCII letter). ``{n}`` makes each one different.
HOSTILE_SELECTORS = (
    "<script>{n}</script>",
    "a b{n}",
    "../{n}",
    "x" * 300 + "{n}",
    "-fout{n}",
    "é{n}",
)


def spoofed_selector(n: int) -> str:
    """Return the selector of the ``n``-th signature of :func:`spoofed_message`."""
    kind = n % (len(HOSTILE_SELECTORS) + 1)
    return f"sel{n}" if kind == len(HOSTILE_SELECTORS) else HOSTILE_SELECTORS[kind].format(n=n)


def spoofed_message(domain: str, count: int = 1400) -> bytes:
    """A forged message "from" ``domain`` carrying ``count`` DKIM-Signature headers
    that claim ``d=domain``, each with another selector (no signature is valid)."""
    headers = [
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};\r\n"
        f" s={spoofed_selector(n)}; h=from:subject;\r\n"
        " bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n"
        for n in range(count)
    ]
    return "".join(headers).encode() + plain_message(f"directeur@{domain}", "Spoed")
