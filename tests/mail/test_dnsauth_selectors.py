"""DKIM selectors learned from stored mail: verified with dkimpy against keys
published on the test DNS server, bounded however hostile the mail."""

from __future__ import annotations

import time

import pytest

from postkamer.mail import mime
from postkamer.mail.dnsauth import StoredMail, make_resolver, selectors_in_mail
from postkamer.mail.dnsauth.selectors import (
    MAX_KEY_LOOKUPS,
    MAX_SELECTORS,
    MAX_VERIFICATIONS,
    MAX_VERIFIED_BYTES,
)
from tests.dnschecks_support import (
    Signer,
    plain_message,
    serve_signer,
    spoofed_message,
    spoofed_selector,
)
from tests.servers.dns import TestDNS


@pytest.fixture(scope="module")
def signer(dns_server: TestDNS) -> Signer:
    return serve_signer(dns_server, "signed-mail.nl", "real2026")


@pytest.fixture(scope="module")
def attacker(dns_server: TestDNS) -> Signer:
    return serve_signer(dns_server, "aanvaller.nl", "evil")


def _find(dns_server: TestDNS, mail: list[StoredMail], domain: str) -> list[str]:
    return selectors_in_mail(mail, domain, resolver=make_resolver(dns_server.spec))


def test_a_signature_that_verifies_gives_its_selector(dns_server, signer):
    raw = signer.sign(plain_message(f"jan@{signer.domain}"))
    assert _find(dns_server, [StoredMail(raw)], signer.domain) == ["real2026"]
    # The domain is compared without case or final dot.
    assert _find(dns_server, [StoredMail(raw)], "Signed-Mail.NL.") == ["real2026"]


def test_a_signed_message_changed_afterwards_gives_nothing(dns_server, signer):
    raw = signer.sign(plain_message(f"jan@{signer.domain}", subject="Offerte"))
    forged = raw.replace(b"Subject: Offerte", b"Subject: Betaal nu")
    assert forged != raw
    assert _find(dns_server, [StoredMail(forged)], signer.domain) == []
    body_changed = raw.replace(b"Beste collega", b"Beste klant")
    assert _find(dns_server, [StoredMail(body_changed)], signer.domain) == []


def test_a_copied_signature_header_with_the_real_selector_gives_nothing(dns_server, signer):
    genuine = signer.sign(plain_message(f"jan@{signer.domain}"))
    header = genuine.split(b"\r\nFrom:")[0] + b"\r\n"
    replayed = header + plain_message(f"ceo@{signer.domain}", subject="Spoed")
    assert _find(dns_server, [StoredMail(replayed)], signer.domain) == []


def test_mail_signed_by_another_domain_is_neither_taken_nor_looked_up(dns_server, signer, attacker):
    # The attacker signs with a key of their own, claiming our domain as sender.
    raw = attacker.sign(plain_message(f"ceo@{signer.domain}"))
    before = len(dns_server.queries)
    assert _find(dns_server, [StoredMail(raw)], signer.domain) == []
    assert dns_server.queries[before:] == []


def test_1400_forged_signatures_cost_at_most_the_key_budget(dns_server, signer):
    mail = [StoredMail(spoofed_message(signer.domain, 1400)) for _ in range(20)]
    before = len(dns_server.queries)
    started = time.monotonic()
    assert _find(dns_server, mail, signer.domain) == []
    asked = dns_server.queries[before:]
    # An absent key costs a TXT and a CNAME question in this zone; 1,400
    # signatures in each of 20 messages make ten questions at most.
    assert 0 < len(asked) <= 2 * MAX_KEY_LOOKUPS <= 10
    assert {rdtype for _, rdtype in asked} <= {"TXT", "CNAME"}
    for name, _ in asked:
        assert name.endswith(f"._domainkey.{signer.domain}")
        assert name.split(".")[0].startswith("sel")
    assert time.monotonic() - started < 3.0


def test_a_genuine_signature_after_forged_ones_still_counts(dns_server, signer):
    forged = spoofed_message(signer.domain, 5)
    raw = signer.sign(plain_message(f"jan@{signer.domain}"))
    mail = [StoredMail(forged), StoredMail(raw)]
    assert _find(dns_server, mail, signer.domain) == ["real2026"]


def test_verifications_are_bounded_even_for_a_published_key(dns_server, signer):
    # Forged signatures naming the real selector: its key exists, so each one is
    # checked, but never more than the budget, and none passes.
    genuine = signer.sign(plain_message(f"jan@{signer.domain}"))
    header = genuine.split(b"\r\nFrom:")[0] + b"\r\n"
    forged = [
        StoredMail(header + plain_message(f"x{n}@{signer.domain}", subject=f"n{n}"))
        for n in range(MAX_VERIFICATIONS + 5)
    ]
    mail = [*forged, StoredMail(genuine)]
    # The genuine message comes after the budget is spent: not verified any more.
    assert _find(dns_server, mail, signer.domain) == []
    assert _find(dns_server, [StoredMail(genuine), *forged], signer.domain) == ["real2026"]


def test_our_sent_copies_count_as_written_but_only_valid_selectors_and_a_few(dns_server):
    domain = "eigen-verzonden.nl"
    headers = "".join(
        f"DKIM-Signature: v=1; a=rsa-sha256; d={domain}; s={selector}; h=from; bh=x; b=y\r\n"
        for selector in ("<script>", "Eigen2026", "a b", "../x", *(f"s{n}" for n in range(10)))
    )
    sent = (headers + f"From: info@{domain}\r\nSubject: Verzonden\r\n\r\nTekst\r\n").encode()
    before = len(dns_server.queries)
    # No resolver at all: our own copies need none.
    found = selectors_in_mail([StoredMail(sent, ours=True)], domain, resolver=None)
    assert found == ["eigen2026", "s0", "s1", "s2", "s3"]
    assert len(found) == MAX_SELECTORS
    assert dns_server.queries[before:] == []
    # The header block alone (how the web layer passes sent copies) is enough.
    block = mime.header_block(sent)
    assert selectors_in_mail([StoredMail(block, ours=True)], domain, resolver=None) == found
    # The same message received from outside proves nothing.
    assert selectors_in_mail([StoredMail(sent)], domain, resolver=None) == []


def test_spoofed_selectors_from_our_sent_copies_are_still_validated(dns_server):
    domain = "verzonden-vreemd.nl"
    raw = spoofed_message(domain, 1400)
    found = selectors_in_mail([StoredMail(raw, ours=True)], domain, resolver=None)
    # Only the first signatures are read; of those only the valid ones count.
    assert found == [spoofed_selector(6), spoofed_selector(13)]


def test_a_message_larger_than_the_limit_is_not_verified(dns_server, signer):
    filler = "x" * 998 + "\r\n"
    body = filler * (MAX_VERIFIED_BYTES // len(filler) + 1)
    raw = signer.sign(plain_message(f"jan@{signer.domain}", body=body))
    assert len(raw) > MAX_VERIFIED_BYTES
    assert _find(dns_server, [StoredMail(raw)], signer.domain) == []
    small = signer.sign(plain_message(f"jan@{signer.domain}"))
    assert _find(dns_server, [StoredMail(raw), StoredMail(small)], signer.domain) == ["real2026"]


def test_a_dead_resolver_verifies_nothing_and_is_quick(signer):
    raw = signer.sign(plain_message(f"jan@{signer.domain}"))
    started = time.monotonic()
    found = selectors_in_mail(
        [StoredMail(raw)] * 20, signer.domain, resolver=make_resolver("127.0.0.1:9"), timeout=1.0
    )
    assert found == []
    assert time.monotonic() - started < 2.0


def test_garbage_never_raises(dns_server):
    mail = [
        StoredMail(b""),
        StoredMail(b"\x00\xff" * 100),
        StoredMail(b"DKIM-Signature: ;;;==\r\n\r\n"),
        StoredMail(b"DKIM-Signature: d=kapot.nl; s=\xff\xfe\r\nFrom: a@kapot.nl\r\n\r\n"),
        StoredMail(b"DKIM-Signature: d=kapot.nl; s=ok1\r\n\r\n", ours=True),
    ]
    assert _find(dns_server, mail, "kapot.nl") == ["ok1"]
