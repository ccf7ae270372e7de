"""Mail the parser used to lose or distort, through the real path: Dovecot, the
fetch, the store, and the fields the API returns (issue 15, security item 12)."""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from postkamer.mail.mime import extract_part
from postkamer.messages.models import Message

pytestmark = pytest.mark.django_db


def fetched(box, api, raw: bytes) -> dict:
    """Deliver ``raw`` to the box, fetch, and return the API's list item and detail."""
    box.deliver(raw)
    assert box.fetch().new_messages == 1
    api.force_authenticate(box.mailbox.owner_users.first())
    (item,) = api.get(f"/api/v1/mailboxes/{box.mailbox.pk}/messages/").json()["results"]
    detail = api.get(f"/api/v1/messages/{item['id']}/").json()
    assert {k: detail[k] for k in item} == item
    return detail


def problems(box) -> list[str]:
    return Message.objects.get(mailbox=box.mailbox).problems


def head(extra: str = "", subject: str = "Test") -> str:
    return (
        f"From: Jan <jan@example.test>\r\nTo: info@kantoor.test\r\nSubject: {subject}\r\n"
        f"Date: Thu, 26 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{random.random()}@example.test>\r\n"
        + extra
    )


def test_a_display_name_written_like_an_address_never_becomes_the_address(box, api):
    raw = (
        b"From: ceo@bank.example <evil@attacker.example>\r\n"
        b"To: bob@example.com <bob@example.com>\r\nSubject: Betaling\r\n"
        b"Message-ID: <fa@example.test>\r\n\r\nGraag vandaag betalen.\r\n"
    )
    got = fetched(box, api, raw)
    assert got["from"] == [{"name": "ceo@bank.example", "address": "evil@attacker.example"}]
    assert got["to"] == [{"name": "bob@example.com", "address": "bob@example.com"}]


def test_a_multipart_with_a_transfer_encoding_keeps_text_html_and_attachments(box, api):
    raw = (
        head('Content-Type: multipart/alternative; boundary="b"\r\n')
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
        '--b\r\nContent-Type: application/pdf; name="polis.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
    ).encode()
    got = fetched(box, api, raw)
    assert got["text"] == "plain"
    assert "<p>html</p>" in got["html"]
    assert got["has_attachments"] is True
    assert [(a["filename"], a["size"]) for a in got["attachments"]] == [("polis.pdf", 5)]


def test_one_bad_byte_in_a_declared_charset_costs_one_character(box, api):
    raw = (
        head(subject="=?gb2312?B?xOO6w4zC?=").encode()
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe \xff"
    )
    got = fetched(box, api, raw)
    assert got["text"] == "Grüße \ufffd"
    assert got["subject"] == "你好\ufffd\ufffd"


def test_a_stray_byte_in_base64_gives_the_size_the_download_gives(box, api):
    gif = b"GIF87a" + bytes(range(40))
    encoded = base64.b64encode(gif)
    raw = (
        (
            head('Content-Type: multipart/mixed; boundary="b"\r\n')
            + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
            '--b\r\nContent-Type: image/gif; name="a.gif"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        ).encode()
        + encoded[:2]
        + b"\xdf"
        + encoded[2:]
        + b"\r\n--b--\r\n"
    )
    got = fetched(box, api, raw)
    (att,) = got["attachments"]
    stored = b"".join(api.get(f"/api/v1/messages/{got['id']}/raw/").streaming_content)
    part = Message.objects.get(pk=got["id"]).attachments.get().part
    assert att["size"] == len(extract_part(stored, part)[2]) == len(gif)
    assert extract_part(stored, part)[2] == gif


def test_two_delimiters_in_a_row_add_no_attachment(box, api):
    raw = (
        head('Content-Type: multipart/mixed; boundary="B"\r\n')
        + "\r\n--B\r\n--B\r\nContent-Type: text/plain\r\n\r\nhallo\r\n--B--\r\n"
    ).encode()
    got = fetched(box, api, raw)
    assert (got["text"], got["has_attachments"], got["attachments"]) == ("hallo", False, [])


def test_a_closing_delimiter_alone_keeps_the_text(box, api):
    raw = (head('Content-Type: multipart/mixed; boundary="B"\r\n') + "\r\nhallo\r\n--B--").encode()
    got = fetched(box, api, raw)
    assert got["text"] == "hallo\n"
    assert "bad_boundary" in problems(box)


def test_a_missing_blank_line_keeps_the_body(box, api):
    raw = head().encode() + b"deze regel is de tekst\r\nen deze ook\r\n"
    got = fetched(box, api, raw)
    assert got["subject"] == "Test"
    assert got["text"] == "deze regel is de tekst\nen deze ook\n"
    assert "bad_header" in problems(box)


def test_a_boundary_with_junk_after_its_quotes_keeps_the_structure(box, api):
    raw = (
        head('Content-Type: multipart/mixed; boundary="B"x\r\n')
        + "\r\n--B\r\nContent-Type: text/plain\r\n\r\ntekst\r\n"
        '--B\r\nContent-Type: text/csv; name="a.csv"\r\n\r\na;b\r\n--B--\r\n'
    ).encode()
    got = fetched(box, api, raw)
    assert got["text"] == "tekst"
    assert [(a["filename"], a["size"]) for a in got["attachments"]] == [("a.csv", 3)]


def test_a_uuencoded_attachment_is_stored_decoded(box, api):
    data = random.Random(15).randbytes(3000)
    lines = b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45))
    raw = (
        (
            head('Content-Type: multipart/mixed; boundary="b"\r\n')
            + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
            '--b\r\nContent-Type: application/zip; name="a.zip"\r\n'
            "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.zip\r\n"
        ).encode()
        + lines.replace(b"\n", b"\r\n")
        + b"`\r\nend\r\n--b--\r\n"
    )
    got = fetched(box, api, raw)
    assert [(a["filename"], a["size"]) for a in got["attachments"]] == [("a.zip", 3000)]
    stored = b"".join(api.get(f"/api/v1/messages/{got['id']}/raw/").streaming_content)
    assert extract_part(stored, "2")[2] == data


def test_bare_cr_line_ends_are_read_as_line_ends(box, api):
    raw = (
        b"From: Mac <mac@example.test>\rTo: info@kantoor.test\rSubject: Oud\r"
        b"Message-ID: <cr@example.test>\r\rregel een\rregel twee\r"
    )
    got = fetched(box, api, raw)
    assert got["subject"] == "Oud"
    assert got["from"] == [{"name": "Mac", "address": "mac@example.test"}]
    assert got["text"] == "regel een\nregel twee\n"


def test_a_message_that_makes_email_itself_fail_is_read(box, api):
    # email's header parser raises IndexError on this From (see the
    # differential test's "email_raises"); the fast parser must not care.
    raw = b"To: info@kantoor.test\r\nSubject: Kapot\r\nMessage-ID: <k@x>\r\nFrom: robot@"
    got = fetched(box, api, raw)
    assert got["subject"] == "Kapot"
    assert got["from"] == [{"name": "", "address": "robot@"}]
    assert "unparseable" not in problems(box)


def test_subjects_and_names_lose_control_characters_and_are_capped(box, api):
    long_name = "N" * 5000
    raw = (
        f'From: "{long_name}" <jan@example.test>\r\nTo: info@kantoor.test\r\n'
        "Subject: =?utf-8?q?Factuur=0D=0ABcc=3A_x=40y=2Etest_=E2=80=AEfdp=2Eexe?= "
        + "x" * 5000
        + "\r\nMessage-ID: <cc@example.test>\r\n\r\nx\r\n"
    ).encode()
    got = fetched(box, api, raw)
    assert got["subject"].startswith("Factuur  Bcc: x@y.test fdp.exe xxx")
    assert len(got["subject"]) == 1000
    assert got["from"] == [{"name": "N" * 200, "address": "jan@example.test"}]
