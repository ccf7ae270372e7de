"""The automatic-reply rules on header blocks alone (postkamer.mail.autoreply)."""

from __future__ import annotations

import pytest

from postkamer.mail import autoreply
from postkamer.mail.autoreply import judge, normalise_address
from postkamer.mail.mime import header_block

OWN = ["info@kantoor.test", "postbus@kantoor.test"]


def head(*lines: str, return_path: str | None = "<klant@voorbeeld.test>") -> bytes:
    fields = [] if return_path is None else [f"Return-Path: {return_path}"]
    fields += ["From: Klant <klant@voorbeeld.test>", "To: info@kantoor.test", *lines]
    return ("\r\n".join(fields) + "\r\n").encode()


def test_a_plain_message_to_the_mailbox_gets_a_reply_to_its_return_path():
    verdict = judge(head(return_path="<Klant.Envelop@Voorbeeld.test>"), OWN)
    assert verdict == autoreply.Verdict(
        True, "", "Klant.Envelop@Voorbeeld.test", "klant.envelop@voorbeeld.test"
    )


def test_the_topmost_return_path_is_the_envelope_sender():
    block = b"Return-Path: <eerste@voorbeeld.test>\r\n" + head(
        return_path="<tweede@voorbeeld.test>"
    )
    assert judge(block, OWN).recipient == "eerste@voorbeeld.test"


@pytest.mark.parametrize(
    ("return_path", "reason"),
    [
        ("<>", "null_return_path"),
        ("< >", "null_return_path"),
        ("", "null_return_path"),
        ("<MAILER-DAEMON>", "bad_return_path"),
        ("<geen adres@voorbeeld.test>", "bad_return_path"),
    ],
)
def test_a_reply_needs_a_usable_return_path(return_path, reason):
    assert judge(head(return_path=return_path), OWN).reason == reason


def test_without_return_path_nobody_knows_the_envelope_sender():
    assert judge(head(return_path=None), OWN).reason == "no_return_path"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Auto-Submitted: auto-generated", "auto_submitted"),
        ("Auto-Submitted: Auto-Replied (vacation)", "auto_submitted"),
        ("Auto-Submitted: auto-notified; owner-email=a@b.test", "auto_submitted"),
        ("X-Autorespond: ja", "autoresponder"),
        ("Content-Type: multipart/report; report-type=disposition-notification", "delivery_report"),
        ("Precedence: BULK", "precedence"),
        ("Precedence: auto_reply", "precedence"),
        ("List-Archive: <https://lists.test/>", "mailing_list"),
        ("List-Unsubscribe-Post: List-Unsubscribe=One-Click", "mailing_list"),
        ("X-Auto-Response-Suppress: AutoReply", "suppressed"),
        ("X-Auto-Response-Suppress: oof", "suppressed"),
    ],
)
def test_automatic_and_list_mail_gets_no_reply(line, reason):
    assert judge(head(line), OWN).reason == reason


@pytest.mark.parametrize(
    "line",
    [
        "Auto-Submitted: No",
        "Auto-Submitted: no (written by a person)",
        "Precedence: first-class",
        "X-Auto-Response-Suppress: DR, NDR",
        "Content-Type: multipart/mixed; boundary=x",
    ],
)
def test_signs_that_are_not_automatic_do_not_stop_the_reply(line):
    assert judge(head(line), OWN).reply


@pytest.mark.parametrize(
    "localpart",
    [
        "MAILER-DAEMON",
        "postmaster",
        "listserv",
        "majordomo",
        "owner-nieuws",
        "nieuws-request",
        "nieuws-owner",
        "nieuws-bounces",
        "bounce-12345",
        "noreply",
        "no-reply",
        "no_reply",
        "NoReply.notificaties",
        "donotreply",
        "do-not-reply",
        "no-reply+ref42",
    ],
)
def test_system_and_no_reply_addresses_get_no_reply(localpart):
    address = f"{localpart}@voorbeeld.test"
    assert judge(head(return_path=f"<{address}>"), OWN).reason == "system_sender"


@pytest.mark.parametrize("localpart", ["jan", "replybox", "noreen", "owner", "bouncer", "request"])
def test_ordinary_addresses_that_resemble_system_ones_get_a_reply(localpart):
    assert judge(head(return_path=f"<{localpart}@voorbeeld.test>"), OWN).reply


def test_a_system_address_in_from_or_sender_counts_too():
    block = head(return_path="<b.1@mailer.test>").replace(
        b"From: Klant <klant@voorbeeld.test>", b"From: Winkel <no-reply@winkel.test>"
    )
    assert judge(block, OWN).reason == "system_sender"
    block = head("Sender: nieuws-owner@lists.test")
    assert judge(block, OWN).reason == "system_sender"


def test_the_mailbox_never_answers_itself_whatever_the_case_or_plus_tag():
    assert judge(head(return_path="<INFO@Kantoor.test>"), OWN).reason == "own_address"
    block = head().replace(b"From: Klant <klant@voorbeeld.test>", b"From: info+x@kantoor.test")
    assert judge(block, OWN).reason == "own_address"


def test_mail_not_addressed_to_the_mailbox_gets_no_reply():
    block = head().replace(b"To: info@kantoor.test", b"To: iemand@elders.test")
    assert judge(block, OWN).reason == "not_addressed"
    folded = head("Cc: a@elders.test,\r\n  Postbus <postbus@kantoor.test>").replace(
        b"To: info@kantoor.test", b"To: iemand@elders.test"
    )
    assert judge(folded, OWN).reply
    bcc = head("Bcc: INFO@kantoor.test").replace(b"To: info@kantoor.test", b"To: x@elders.test")
    assert judge(bcc, OWN).reply


def test_the_first_rule_that_applies_is_the_reason_given():
    block = head("Precedence: bulk", "List-Id: <l.test>", return_path="<noreply@voorbeeld.test>")
    assert judge(block, OWN).reason == "precedence"


@pytest.mark.parametrize("block", [b"", b"\r\n", b"this is no header at all"])
def test_an_unreadable_header_gets_no_reply(block):
    assert judge(header_block(block), OWN).reason == "unreadable"


def test_eight_bit_and_encoded_headers_do_not_disturb_the_rules():
    block = head().replace(
        b"From: Klant <klant@voorbeeld.test>",
        b"From: =?utf-8?q?J=C3=A9r=C3=B4me?= <klant@voorbeeld.test>",
    )
    block += b"Subject: \xff\xfe caf\xc3\xa9\r\n"
    assert judge(block, OWN).reply
    assert judge(header_block(block + b"\r\nDe tekst.\r\n"), OWN).reply


def test_addresses_compare_without_case_and_plus_tag():
    assert normalise_address(" Info+Offerte@Kantoor.TEST ") == "info@kantoor.test"
    assert normalise_address("+x@kantoor.test") == "+x@kantoor.test"
    assert normalise_address("geen-adres") == "geen-adres"
