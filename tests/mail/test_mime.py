"""Tests for the fast MIME parser (postkamer.mail.mime)."""

from __future__ import annotations

import base64
import binascii
import random
import time
import tracemalloc
from datetime import UTC
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from bench.corpus import generate
from postkamer.mail.mime import (
    Address,
    extract_part,
    header_block,
    parse_message,
    parse_message_full,
)


def crlf(text: str) -> bytes:
    """Encode ``text`` as UTF-8 with CRLF line endings, as IMAP delivers it."""
    return text.replace("\n", "\r\n").encode("utf-8")


SIMPLE = crlf(
    """Return-Path: <jan@example.nl>
From: "Jan de Vries" <jan@example.nl>
To: Piet Jansen <piet@example.com>, "Klaas, K." <klaas@example.org>
Cc: marie@example.be
Reply-To: =?utf-8?q?Zo=C3=AB_M=C3=BCller?= <zoe@example.nl>
Sender: Secretariaat <secr@example.nl>
Subject: =?utf-8?q?Vergadering_=C3=A9=C3=A9n?= morgen
Date: Tue, 3 Mar 2026 10:00:00 +0100
Message-ID: <abc.123@example.nl>
In-Reply-To: <parent@example.com>
References: <root@example.com>
 <parent@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hallo Piet,

Tot morgen in het café.
"""
)


def mixed(parts: list[str], boundary: str = "b1", extra_headers: str = "") -> bytes:
    body = "".join(f"--{boundary}\n{p}\n" for p in parts)
    return crlf(
        f"From: a@example.nl\nTo: b@example.nl\nSubject: t\nMessage-ID: <m@x>\n{extra_headers}"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\npreamble\n{body}--{boundary}--\n'
    )


def b64_part(data: bytes, headers: str) -> str:
    return f"{headers}\nContent-Transfer-Encoding: base64\n\n" + base64.encodebytes(data).decode()


def test_simple_text_message_yields_all_header_fields() -> None:
    pm = parse_message(SIMPLE)
    assert pm.message_id == "abc.123@example.nl"
    assert pm.in_reply_to == "parent@example.com"
    assert pm.references == ["root@example.com", "parent@example.com"]
    assert pm.subject == "Vergadering één morgen"
    assert pm.from_ == [Address("Jan de Vries", "jan@example.nl")]
    assert pm.to == [
        Address("Piet Jansen", "piet@example.com"),
        Address("Klaas, K.", "klaas@example.org"),
    ]
    assert pm.cc == [Address("", "marie@example.be")]
    assert pm.reply_to == [Address("Zoë Müller", "zoe@example.nl")]
    assert pm.sender == Address("Secretariaat", "secr@example.nl")
    assert pm.date is not None and pm.date.utcoffset() is not None
    assert pm.date.isoformat() == "2026-03-03T10:00:00+01:00"
    assert pm.text == "Hallo Piet,\n\nTot morgen in het café.\n"
    assert pm.html == "" and pm.attachments == [] and pm.problems == []
    assert pm.return_path == "jan@example.nl"
    assert not pm.headers_only and not pm.is_auto


def test_multipart_alternative_gives_plain_text_and_html() -> None:
    alt = (
        'Content-Type: multipart/alternative; boundary="alt"\n\n'
        "--alt\nContent-Type: text/plain; charset=us-ascii\n\nplain body\n"
        "--alt\nContent-Type: text/html; charset=utf-8\n\n<p>html body</p>\n--alt--"
    )
    pm = parse_message(mixed([alt]))
    assert pm.text == "plain body"
    assert pm.html == "<p>html body</p>"
    assert pm.attachments == []


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 57, 100_000, 100_001, 100_002])
@pytest.mark.parametrize("linesep", ["\n", "\r\n"])
def test_base64_attachment_size_is_exact_without_decoding(size: int, linesep: str) -> None:
    data = random.Random(size).randbytes(size)
    raw = mixed(
        [
            "Content-Type: text/plain\n\nsee attached",
            b64_part(data, "Content-Type: application/pdf"),
        ]
    )
    if linesep == "\n":
        raw = raw.replace(b"\r\n", b"\n")
    (att,) = parse_message(raw).attachments
    assert att.size == size
    assert extract_part(raw, att.part)[2] == data


def test_attachments_with_rfc2231_and_rfc2047_names() -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    jpg = b"\xff\xd8\xff\xe0" + bytes(5000)
    raw = mixed(
        [
            "Content-Type: text/plain\n\nbody",
            b64_part(
                pdf,
                "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
                " filename*=UTF-8''%E2%82%AC%20offerte%20caf%C3%A9.pdf",
            ),
            b64_part(
                jpg,
                'Content-Type: image/jpeg; name="=?utf-8?b?Zm90b19jYWbDqS5qcGc=?="\n'
                "Content-Disposition: inline\nContent-ID: <img1@x>",
            ),
            b64_part(
                b"abc",
                "Content-Type: text/csv\nContent-Disposition: attachment;\n"
                " filename*0*=iso-8859-1''r%E9sum%E9;\n filename*1=\" deel 2.csv\"",
            ),
            "Content-Type: text/plain; name=notes.txt\nContent-Transfer-Encoding: quoted-printable\n\nna=C3=AFef=\n!",
        ]
    )
    pm = parse_message(raw)
    assert pm.text == "body"
    names = [
        (a.filename, a.content_type, a.size, a.part, a.inline, a.content_id) for a in pm.attachments
    ]
    assert names == [
        ("€ offerte café.pdf", "application/pdf", len(pdf), "2", False, None),
        ("foto_café.jpg", "image/jpeg", len(jpg), "3", True, "img1@x"),
        ("résumé deel 2.csv", "text/csv", 3, "4", False, None),
        ("notes.txt", "text/plain", len("naïef!".encode()), "5", False, None),
    ]
    assert extract_part(raw, "2") == ("€ offerte café.pdf", "application/pdf", pdf)
    assert extract_part(raw, "3")[2] == jpg
    assert extract_part(raw, "5")[2] == "naïef!".encode()
    assert pm.problems == []


def test_nested_message_rfc822_is_listed_and_walked() -> None:
    inner = (
        "From: inner@example.nl\nSubject: Binnenste bericht\nMessage-ID: <inner@x>\n"
        'Content-Type: multipart/mixed; boundary="in"\n\n'
        "--in\nContent-Type: text/plain\n\ninner text\n"
        "--in\n"
        + b64_part(b"inner-attachment", 'Content-Type: application/pdf; name="in.pdf"')
        + "--in--"
    )
    raw = mixed(
        ["Content-Type: text/plain\n\nouter text", "Content-Type: message/rfc822\n\n" + inner]
    )
    pm = parse_message(raw)
    assert pm.message_id == "m@x"
    assert pm.text == "outer text"
    parts = {a.part: a for a in pm.attachments}
    assert parts["2"].content_type == "message/rfc822"
    assert parts["2"].filename == "Binnenste bericht.eml"
    assert parts["2.2"].filename == "in.pdf" and parts["2.2"].size == len(b"inner-attachment")
    assert extract_part(raw, "2.2")[2] == b"inner-attachment"
    assert extract_part(raw, "2")[2].startswith(b"From: inner@example.nl")


def test_quoted_printable_body_is_decoded() -> None:
    raw = crlf(
        "From: a@b.nl\nSubject: qp\nMessage-ID: <q@x>\n"
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Caf=E9 =E9=E9n lange regel die wordt afge=\nbroken.\n"
    )
    pm = parse_message(raw)
    assert pm.text == "Café één lange regel die wordt afgebroken.\n"
    assert pm.problems == []


def test_an_unknown_charset_reads_utf8_and_each_other_byte_as_windows_1252() -> None:
    raw = (
        b"From: a@b.nl\r\nMessage-ID: <c@x>\r\nSubject: =?x-unknown?q?caf=C3=A9?=\r\n"
        b'Content-Type: text/plain; charset="x-unknown"\r\n\r\nna\xc3\xafef \xff caf\xe9\r\n'
    )
    pm = parse_message(raw)
    assert pm.subject == "café"
    assert pm.text == "naïef ÿ café\n"
    assert "bad_charset" in pm.problems


def test_one_bad_byte_in_a_declared_charset_costs_one_character() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe \xff"
    pm = parse_message(raw)
    assert pm.text == "Grüße \ufffd"
    assert "bad_charset" in pm.problems
    pm = parse_message(b"Subject: =?gb2312?B?xOO6w4zC?=\r\n\r\nx")
    assert pm.subject == "你好\ufffd\ufffd"  # what email gives too
    # Valid UTF-8 under a label it does not fit is UTF-8 (mail_test_12 of mail-parser).
    pm = parse_message("Content-Type: text/plain; charset=gb2312\n\n你好\uff01".encode())
    assert pm.text == "你好\uff01"


def test_declared_boundary_that_never_occurs_keeps_the_text() -> None:
    raw = crlf(
        'From: a@b.nl\nMessage-ID: <x@x>\nContent-Type: multipart/mixed; boundary="nope"\n\n'
        "--other\nContent-Type: text/plain\n\nBelangrijke tekst\n"
    )
    pm = parse_message(raw)
    assert "Belangrijke tekst" in pm.text
    assert "bad_boundary" in pm.problems


def test_missing_boundary_parameter_keeps_the_text() -> None:
    raw = crlf("From: a@b.nl\nMessage-ID: <x@x>\nContent-Type: multipart/mixed\n\nGewoon tekst\n")
    pm = parse_message(raw)
    assert pm.text == "Gewoon tekst\n"
    assert "bad_boundary" in pm.problems


def test_missing_closing_boundary_flags_truncated_but_keeps_parts() -> None:
    raw = mixed(
        ["Content-Type: text/plain\n\nhello", b64_part(b"x" * 3000, "Content-Type: image/png")]
    )
    cut = raw[: raw.rindex(b"--b1--")]
    pm = parse_message(cut)
    assert pm.text == "hello"
    assert [a.size for a in pm.attachments] == [3000]
    assert {"bad_boundary", "truncated"} <= set(pm.problems)


def test_truncated_message_never_raises_at_any_cut_point() -> None:
    raw = mixed(
        [
            "Content-Type: text/plain\n\nhello there",
            b64_part(bytes(range(256)) * 8, 'Content-Type: application/pdf; name="a.pdf"'),
        ]
    )
    for cut in range(0, len(raw), 7):
        pm = parse_message(raw[:cut])
        assert "unparseable" not in pm.problems
    pm = parse_message(raw[: len(raw) * 3 // 4])
    assert pm.text == "hello there"
    assert "truncated" in pm.problems


def test_header_only_message() -> None:
    for raw in (
        b"From: a@b.nl\r\nSubject: alleen headers\r\nMessage-ID: <h@x>",
        b"From: a@b.nl\r\nSubject: alleen headers\r\nMessage-ID: <h@x>\r\n\r\n",
    ):
        pm = parse_message(raw)
        assert pm.headers_only
        assert pm.subject == "alleen headers"
        assert pm.text == "" and pm.attachments == []
        assert header_block(raw).startswith(b"From: a@b.nl\r\n")


def test_header_block_returns_only_the_headers() -> None:
    assert header_block(SIMPLE).endswith(b"8bit\r\n")
    assert b"Hallo" not in header_block(SIMPLE)
    assert header_block(b"\r\nbody") == b""
    assert header_block(b"A: 1\nB: 2\n\nbody\n\nmore") == b"A: 1\nB: 2\n"


def test_missing_message_id_flags_problem() -> None:
    pm = parse_message(b"From: a@b.nl\r\nSubject: x\r\n\r\nbody\r\n")
    assert pm.message_id is None
    assert "no_message_id" in pm.problems


def test_two_messages_with_the_same_message_id_parse_independently() -> None:
    one = SIMPLE
    two = SIMPLE.replace(b"Tot morgen in het caf\xc3\xa9.", b"Andere tekst.").replace(
        b"Jan de Vries", b"Iemand"
    )
    a, b = parse_message(one), parse_message(two)
    assert a.message_id == b.message_id == "abc.123@example.nl"
    assert "café" in a.text and b.text == "Hallo Piet,\n\nAndere tekst.\n"
    assert a.from_[0].name == "Jan de Vries" and b.from_[0].name == "Iemand"
    a.attachments.append(None)  # type: ignore[arg-type]
    assert b.attachments == []  # no shared mutable state


def test_non_ascii_raw_headers_are_decoded() -> None:
    raw = (
        'From: Zoë Müller <zoe@example.nl>\r\nTo: "Renée, R." <r@example.be>\r\n'
        "Subject: Reünie in België \u2013 één dag\r\nMessage-ID: <n@x>\r\n\r\nhoi\r\n"
    ).encode()
    pm = parse_message(raw)
    assert pm.subject == "Reünie in België \u2013 één dag"
    assert pm.from_ == [Address("Zoë Müller", "zoe@example.nl")]
    assert pm.to == [Address("Renée, R.", "r@example.be")]
    assert pm.problems == []
    latin = b"From: Zo\xeb <zoe@example.nl>\r\nSubject: caf\xe9\r\nMessage-ID: <n@x>\r\n\r\nhoi\r\n"
    pm = parse_message(latin)
    assert pm.subject == "café" and pm.from_[0].name == "Zoë"
    assert "bad_charset" in pm.problems


def test_dates_missing_unparseable_and_minus_zero() -> None:
    assert parse_message(b"Subject: x\r\n\r\nb").date is None
    pm = parse_message(b"Date: gisteren om vijf uur\r\n\r\nb")
    assert pm.date is None and "bad_date" in pm.problems
    pm = parse_message(b"Date: Tue, 3 Mar 2026 10:00:00 -0000\r\n\r\nb")
    assert pm.date is not None and pm.date.tzinfo == UTC


def test_30mb_message_parses_fast_with_little_extra_memory() -> None:
    rng = random.Random(30)
    raw = mixed(
        [
            "Content-Type: text/plain\n\n" + "Grote bijlage.\n" * 1000,
            b64_part(rng.randbytes(11_000_000), 'Content-Type: application/pdf; name="a.pdf"'),
            b64_part(rng.randbytes(11_000_000), 'Content-Type: image/jpeg; name="b.jpg"'),
        ]
    )
    assert len(raw) > 29_000_000
    parse_message(raw)  # warm up caches (regex compilation, codecs)
    t = time.perf_counter()
    pm = parse_message(raw)
    elapsed = time.perf_counter() - t
    tracemalloc.start()
    try:
        parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [a.size for a in pm.attachments] == [11_000_000, 11_000_000]
    assert pm.text.startswith("Grote bijlage.")
    assert elapsed < 1.0, elapsed  # ~0.05 s on an idle core; the CI box is shared
    assert peak < len(raw) * 0.1, peak  # far below 2x: bodies are never copied


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Auto-Submitted: auto-replied\n", True),
        ("Auto-Submitted: auto-generated; owner-email=x@y\n", True),
        ("Auto-Submitted: no\n", False),
        ("List-Id: Nieuws <nieuws.example.nl>\n", True),
        ("List-Unsubscribe: <mailto:u@example.nl>\n", True),
        ("Precedence: bulk\n", True),
        ("Precedence: junk\n", True),
        ("Precedence: list\n", True),
        ("Return-Path: <>\n", True),
        ("X-Auto-Response-Suppress: All\n", True),
        ("Feedback-ID: 1:campaign:esp\n", True),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x\n", True),
        ("Return-Path: <jan@example.nl>\n", False),
        ("", False),
    ],
)
def test_is_auto_follows_rfc3834_rules(headers: str, expected: bool) -> None:
    raw = crlf(f"From: jan@example.nl\nTo: b@example.nl\nMessage-ID: <a@x>\n{headers}\nbody\n")
    assert parse_message(raw).is_auto is expected


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.nl", "postmaster@example.nl", "owner-list@x.nl"]
)
def test_is_auto_for_system_senders(sender: str) -> None:
    raw = crlf(f"From: {sender}\nMessage-ID: <a@x>\n\nbody\n")
    assert parse_message(raw).is_auto


def test_auto_header_fields_are_exposed() -> None:
    raw = crlf(
        "From: a@b.nl\nAuto-Submitted: auto-replied\nList-Id: <l.example.nl>\n"
        "Precedence: bulk\nReturn-Path: <>\n\nb\n"
    )
    pm = parse_message(raw)
    assert (pm.auto_submitted, pm.list_id, pm.precedence, pm.return_path) == (
        "auto-replied",
        "<l.example.nl>",
        "bulk",
        "",
    )


def test_extract_part_returns_decoded_bytes_equal_to_the_original() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.nl"
    msg["Subject"] = "bijlagen"
    msg.set_content("tekst")
    payloads = {
        "offerte.pdf": (random.Random(1).randbytes(70_001), "application", "pdf"),
        "foto.jpg": (random.Random(2).randbytes(12_345), "image", "jpeg"),
    }
    for name, (data, main, sub) in payloads.items():
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    raw = msg.as_bytes(policy=SMTP)
    pm = parse_message(raw)
    assert [a.filename for a in pm.attachments] == list(payloads)
    for att in pm.attachments:
        filename, ctype, data = extract_part(raw, att.part)
        assert filename == att.filename
        assert data == payloads[filename][0]
        assert len(data) == att.size
        assert ctype == att.content_type
    with pytest.raises(KeyError):
        extract_part(raw, "9")
    # A message without a body has one empty part, as in IMAP.
    assert extract_part(b"Subject: no body\r\n", "1") == ("", "text/plain", b"")
    with pytest.raises(KeyError):
        extract_part(b"Subject: no body\r\n", "2")


def test_fast_parse_matches_full_email_parse_on_generated_corpus() -> None:
    checked = 0
    for raw in generate(200, seed=11, scale=0.05):
        fast, full = parse_message(raw), parse_message_full(raw)
        for name in (
            "message_id",
            "subject",
            "from_",
            "to",
            "cc",
            "reply_to",
            "text",
            "html",
            "headers_only",
        ):
            assert getattr(fast, name) == getattr(full, name), (name, raw[:300])

        def atts(pm):  # re-serialised rfc822 parts differ in size only
            return [
                (
                    a.filename,
                    a.content_type,
                    a.part,
                    a.inline,
                    a.content_id,
                    a.content_type == "message/rfc822" or a.size,
                )
                for a in pm.attachments
            ]

        assert atts(fast) == atts(full), raw[:300]
        checked += 1
    assert checked == 200


def test_corpus_is_deterministic() -> None:
    assert list(generate(5, seed=3, scale=0.1)) == list(generate(5, seed=3, scale=0.1))


def _outline(raw: bytes) -> tuple[object, ...]:
    pm = parse_message(raw)
    return (
        pm.text,
        [(a.filename, a.content_type, a.size) for a in pm.attachments],
        sorted(set(pm.problems) - {"no_message_id"}),
    )


@pytest.mark.parametrize(
    ("raw", "outline"),
    [
        (b"", ("", [], [])),
        (b"\r\n\r\n", ("\n", [], [])),
        (
            b"garbage without colon\r\n\r\nbody",
            ("garbage without colon\n\nbody", [], ["bad_header"]),
        ),
        (
            b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n',
            ("--\n", [], ["bad_boundary"]),
        ),
        (
            b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
            + b"".join(
                b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1)
                for n in range(50)
            )
            + b"--b50\r\n\r\ndeep",
            ("", [], ["bad_boundary", "too_deep", "truncated"]),
        ),
        (
            b"Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\x00i\x00",
            ("hi", [], []),
        ),
        (b"Content-Type: text/plain; charset=zlib\r\n\r\nabc", ("abc", [], ["bad_charset"])),
        (
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!aGk=",
            ("hi", [], ["bad_encoding"]),
        ),
        (b"Content-Type: message/rfc822\r\n\r\n", ("", [("message.eml", "message/rfc822", 0)], [])),
        (b'From: <<<@@@>>>, "unterminated <x@y>\r\n\r\nx', ("x", [], ["bad_address"])),
    ],
)
def test_hostile_input_is_read_by_the_fast_path(raw: bytes, outline: tuple[object, ...]) -> None:
    # "fallback_parser" or "unparseable" would mean the fast walker crashed.
    assert _outline(raw) == outline


def test_random_bytes_are_read_by_the_fast_path() -> None:
    rng = random.Random(5)
    for _ in range(200):
        pm = parse_message(rng.randbytes(rng.randrange(1, 3000)))
        assert not {"fallback_parser", "unparseable"} & set(pm.problems)


def test_parse_message_accepts_bytearray_and_memoryview() -> None:
    assert parse_message(bytearray(SIMPLE)).subject == "Vergadering één morgen"
    assert parse_message(memoryview(SIMPLE)).message_id == "abc.123@example.nl"


def test_the_stored_base64_size_is_what_the_download_gives_whatever_the_damage() -> None:
    rng = random.Random(4)
    junk = [b"\xdf", b"=", b"==", b"!", b"*", b" ", b"\r\n", b"A", b"-"]
    for _ in range(1500):
        data = rng.randbytes(rng.randrange(0, 400))
        enc = bytearray(base64.encodebytes(data))
        for _ in range(rng.randrange(0, 4)):
            at = rng.randrange(len(enc) + 1)
            enc[at:at] = rng.choice(junk)
        if rng.random() < 0.3:
            del enc[rng.randrange(len(enc) + 1) :]
        raw = (
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n"
            b"--b\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\n"
            + bytes(enc)
            + b"\n--b--\n"
        )
        (att,) = parse_message(raw).attachments
        assert att.size == len(extract_part(raw, att.part)[2]), bytes(enc)


def test_a_stray_byte_in_base64_is_skipped_as_email_does() -> None:
    gif = base64.b64encode(b"GIF87a" + bytes(range(40)))
    damaged = gif[:2] + b"\xdf" + gif[2:]
    raw = b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n" + damaged
    (att,) = parse_message(raw).attachments
    assert att.size == 46
    assert extract_part(raw, att.part)[2] == b"GIF87a" + bytes(range(40))
    assert "bad_encoding" in parse_message(raw).problems
    # Padding in mid-stream ends the data, for the size as for the download.
    raw = (
        b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\nAAA=AAAAAAAAAAAAAAAA"
    )
    (att,) = parse_message(raw).attachments
    assert att.size == len(extract_part(raw, att.part)[2]) == 2


def test_fast_path_failure_falls_back_to_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    from postkamer.mail import mime

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("fast path bug")

    monkeypatch.setattr(mime._FastWalker, "entity", boom)
    pm = parse_message(SIMPLE)
    assert pm.text == "Hallo Piet,\n\nTot morgen in het café.\n"
    assert pm.subject == "Vergadering één morgen"
    assert "fallback_parser" in pm.problems
    raw = mixed(
        [
            "Content-Type: text/plain\n\nx",
            b64_part(b"data", 'Content-Type: image/png; name="p.png"'),
        ]
    )
    assert extract_part(raw, "2") == ("p.png", "image/png", b"data")

    monkeypatch.setattr(mime, "_parse_full", boom)
    pm = parse_message(SIMPLE)
    assert pm.problems == ["unparseable"]
    assert pm.subject == "" and pm.message_id is None


def test_base64_size_shortcut_is_exact_even_with_stray_whitespace() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(0, 3000))
        enc = base64.encodebytes(data).replace(b"\n", b"\r\n")
        if rng.random() < 0.5:
            damaged = bytearray(enc)
            for _ in range(rng.randrange(1, 4)):
                damaged.insert(rng.randrange(len(damaged) + 1), rng.choice(b"\r\n \t"))
            enc = bytes(damaged)
        raw = mixed(
            ["Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"]
        )
        raw = raw.replace(b"base64\r\n\r\n", b"base64\r\n\r\n" + enc, 1)
        (att,) = parse_message(raw).attachments
        assert att.size == len(data)


def test_part_without_headers_keeps_its_text() -> None:
    raw = mixed(
        ["Gewoon tekst zonder headers\nTweede regel", "Content-Type: text/html\n\n<p>x</p>"]
    )
    pm = parse_message(raw)
    assert pm.text == "Gewoon tekst zonder headers\nTweede regel"
    assert pm.html == "<p>x</p>"
    assert parse_message_full(raw).text == pm.text


def test_message_without_any_header_is_all_text() -> None:
    pm = parse_message(b"Dit is geen header\r\n\r\nmaar wel tekst\r\n")
    assert pm.text == "Dit is geen header\n\nmaar wel tekst\n"
    assert "bad_header" in pm.problems
    assert header_block(b"Dit is geen header\r\n\r\nx") == b""


@pytest.mark.parametrize("charset", ["unicode_escape", "zlib", "base64", "idna"])
def test_non_mail_codecs_are_never_used(charset: str) -> None:
    raw = (
        f"Content-Type: text/plain; charset={charset}\r\n\r\nC:\\new\\x41 caf".encode()
        + b"\xc3\xa9"
    )
    pm = parse_message(raw)
    assert pm.text == "C:\\new\\x41 café"
    assert "bad_charset" in pm.problems


def test_fast_parse_matches_full_parse_on_stdlib_built_messages() -> None:
    from email.headerregistry import Address as StdAddress
    from email.policy import default

    rng = random.Random(5)
    names = ["Jan", "Zoë Müller", "Renée, R.", "O'Brien", 'Kees "de Kat"', "李小龙"]
    filenames = ["a.pdf", "résumé.pdf", "€ rates.xlsx", "heel lange naam " * 6 + ".txt", "日本.txt"]
    texts = ["plain ascii\nline", "café ünïcode\n" * 30, "x" * 2000, "日本語 text\n"]
    for i in range(120):
        msg = EmailMessage()
        msg["From"] = StdAddress(rng.choice(names), f"a{i}", "example.nl")
        msg["To"] = [StdAddress(rng.choice(names[:5]), f"t{k}", "ex.com") for k in range(2)]
        msg["Subject"] = rng.choice(["Hallo", "Zoë's café \u2013 één", "x" * 120, "Re: 日本語"])
        msg["Message-ID"] = f"<{i}@x>"
        text = rng.choice(texts)
        cte = rng.choice([None, "quoted-printable", "base64", "8bit"])
        msg.set_content(text, cte=cte if cte and (not text.isascii() or cte != "8bit") else None)
        if rng.random() < 0.5:
            msg.add_alternative("<p>" + text + "</p>", subtype="html")
        for _ in range(rng.randint(0, 3)):
            data = rng.randbytes(rng.randint(0, 5000))
            msg.add_attachment(
                data, maintype="application", subtype="octet-stream", filename=rng.choice(filenames)
            )
        if rng.random() < 0.2:
            inner = EmailMessage()
            inner["Subject"] = "binnen"
            inner.set_content("inner body")
            msg.add_attachment(inner)
        raw = msg.as_bytes(policy=SMTP if rng.random() < 0.5 else default)
        fast, full = parse_message(raw), parse_message_full(raw)
        for name in ("subject", "from_", "to", "text", "html", "message_id"):
            assert getattr(fast, name) == getattr(full, name), (name, raw[:400])
        assert [
            (a.filename, a.content_type, a.part, a.content_type == "message/rfc822" or a.size)
            for a in fast.attachments
        ] == [
            (a.filename, a.content_type, a.part, a.content_type == "message/rfc822" or a.size)
            for a in full.attachments
        ]


def test_30mb_message_with_huge_text_body_stays_under_one_copy() -> None:
    rng = random.Random(31)
    raw = mixed(
        [
            "Content-Type: text/plain; charset=utf-8\n\n" + "Grote tekst met café\n" * 600_000,
            b64_part(rng.randbytes(12_000_000), 'Content-Type: application/pdf; name="a.pdf"'),
        ]
    )
    assert len(raw) > 29_000_000
    parse_message(raw)
    tracemalloc.start()
    try:
        pm = parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pm.text) == len("Grote tekst met café\n") * 600_000
    # Decoded text plus one normalisation copy; the raw bytes are never copied.
    assert peak < len(raw), peak


# ---------------------------------------------------------------------------
# Issue 15: each way the parser lost or distorted mail, one test each
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "ceo@bank.example <evil@attacker.example>",
            [("ceo@bank.example", "evil@attacker.example")],
        ),
        ("bob@example.com <bob@example.com>", [("bob@example.com", "bob@example.com")]),
        (
            '"ceo@bank.example" <evil@attacker.example>',
            [("ceo@bank.example", "evil@attacker.example")],
        ),
        (
            "=?utf-8?q?ceo=40bank=2Eexample_=3Cceo=40bank=2Eexample=3E=2C?= <evil@attacker.example>",
            [("ceo@bank.example <ceo@bank.example>,", "evil@attacker.example")],
        ),
        (
            '"Jansen, Jan" <jan@example.nl>, piet@example.nl',
            [("Jansen, Jan", "jan@example.nl"), ("", "piet@example.nl")],
        ),
        (
            "Team: a@example.nl, B <b@example.nl>;, c@example.nl",
            [("", "a@example.nl"), ("B", "b@example.nl"), ("", "c@example.nl")],
        ),
        ("jan@example.nl (Jan Jansen)", [("Jan Jansen", "jan@example.nl")]),
        ("Jan (kantoor) <jan@example.nl>", [("Jan", "jan@example.nl")]),
        ("<@relay.example:jan@example.nl>", [("", "jan@example.nl")]),
        ("Jan < jan@example.nl >", [("Jan", "jan@example.nl")]),
        ('"unclosed <evil@attacker.example>', [("unclosed", "evil@attacker.example")]),
        ("undisclosed-recipients:;", []),
    ],
)
def test_the_angle_bracket_address_is_the_address_and_the_rest_the_name(
    header: str, expected: list[tuple[str, str]]
) -> None:
    pm = parse_message(f"From: {header}\r\n\r\nx".encode())
    assert [(a.name, a.address) for a in pm.from_] == expected


def test_an_address_list_is_read_without_email_utils(monkeypatch: pytest.MonkeyPatch) -> None:
    # getaddresses changed between Python versions (3.11: two mailboxes, 3.13:
    # none for "bob@example.com <bob@example.com>"); ours must not depend on it.
    import email.utils

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("email.utils.getaddresses used")

    monkeypatch.setattr(email.utils, "getaddresses", refuse)
    pm = parse_message(b"To: bob@example.com <bob@example.com>, x (y) <@r:z@w.nl>\r\n\r\nx")
    assert [(a.name, a.address) for a in pm.to] == [
        ("bob@example.com", "bob@example.com"),
        ("x", "z@w.nl"),
    ]


def test_a_multipart_with_a_transfer_encoding_keeps_its_parts() -> None:
    raw = crlf(
        'From: a@b.nl\nContent-Type: multipart/alternative; boundary="b"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "--b\nContent-Type: text/plain\n\nplain\n"
        "--b\nContent-Type: text/html\n\n<p>html</p>\n"
        '--b\nContent-Type: image/png; name="p.png"\nContent-Transfer-Encoding: base64\n\naGk=\n'
        "--b--\n"
    )
    pm = parse_message(raw)
    assert (pm.text, pm.html) == ("plain", "<p>html</p>")
    assert [(a.filename, a.size) for a in pm.attachments] == [("p.png", 2)]


def test_two_delimiters_in_a_row_make_no_empty_attachment() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=B\n\n--B\n--B\nContent-Type: text/plain\n\nhello\n--B--\n"
    pm = parse_message(raw)
    assert pm.text == "hello"
    assert pm.attachments == []


def test_a_closing_delimiter_alone_keeps_the_text_before_it() -> None:
    pm = parse_message(b"Content-Type: multipart/mixed; boundary=B\n\nhello\n--B--")
    assert pm.text == "hello\n"
    assert "bad_boundary" in pm.problems


def test_a_missing_blank_line_starts_the_body_at_the_first_non_header_line() -> None:
    pm = parse_message(b"Subject: s\nthis line is body\nand this one")
    assert pm.subject == "s"
    assert pm.text == "this line is body\nand this one"
    assert "bad_header" in pm.problems
    # The same inside a part.
    raw = (
        b"Content-Type: multipart/mixed; boundary=f\n\n--f\nContent-Type: text/plain\nbar\n--f--\n"
    )
    assert parse_message(raw).text == "bar"


def test_a_quoted_boundary_with_trailing_junk_is_the_quoted_part() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="B"x\n\n--B\nContent-Type: text/plain\n\nhi\n--B--\n'
    pm = parse_message(raw)
    assert pm.text == "hi"
    assert "bad_boundary" not in pm.problems


def test_uuencoded_attachments_are_stored_decoded() -> None:
    data = random.Random(9).randbytes(5000)
    lines = b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45))
    raw = (
        crlf(
            'From: a@b.nl\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nzie bijlage\n'
            '--b\nContent-Type: application/zip; name="a.zip"\nContent-Transfer-Encoding: x-uuencode\n\n'
            "begin 644 a.zip\n"
        )
        + lines.replace(b"\n", b"\r\n")
        + b"`\r\nend\r\n--b--\r\n"
    )
    (att,) = parse_message(raw).attachments
    assert (att.filename, att.size) == ("a.zip", 5000)
    assert extract_part(raw, att.part)[2] == data


def test_bare_cr_line_ends_are_line_ends() -> None:
    raw = b"Subject: oud\rFrom: Mac <mac@example.nl>\rContent-Transfer-Encoding: quoted-printable\r\rregel=\r een\rtwee\r"
    pm = parse_message(raw)
    assert pm.subject == "oud"
    assert pm.from_ == [Address("Mac", "mac@example.nl")]
    assert pm.text == "regel een\ntwee\n"
    assert "bad_line_end" in pm.problems
    # One stray CR inside a field of an ordinary message changes nothing.
    pm = parse_message(b"Subject: a\rb\r\nFrom: x@y.nl\r\n\r\nbody\r\n")
    assert (pm.subject, pm.text, pm.problems) == ("a b", "body\n", ["no_message_id"])


def test_parse_message_full_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import thirdparty
    from postkamer.mail import mime

    real = thirdparty.real()
    for name, raw in real + thirdparty.broken([r for r in real if len(r[1]) < 40_000], 300, seed=7):
        pm = parse_message_full(raw)
        assert "unparseable" not in pm.problems, name
    monkeypatch.setattr(mime, "BytesParser", None)  # email itself failing
    assert parse_message_full(SIMPLE).problems == ["unparseable"]


def test_decoded_names_and_subjects_lose_control_characters() -> None:
    raw = (
        b"Subject: =?utf-8?q?Factuur=0D=0ABcc=3A_x=40y=2Enl_=E2=80=AEfdp=2Eexe?=\r\n"
        b"From: =?utf-8?q?Bank=00=1B=5B31m?= <bank@example.nl>\r\n"
        b'Content-Type: application/pdf; name="=?utf-8?q?a=0Ab=E2=80=AEgnp=2Eexe?="\r\n\r\nx'
    )
    pm = parse_message(raw)
    assert pm.subject == "Factuur  Bcc: x@y.nl fdp.exe"
    assert pm.from_ == [Address("Bank[31m", "bank@example.nl")]
    assert pm.attachments[0].filename == "a bgnp.exe"
    # A tab is kept: folded headers use it.
    assert parse_message(b"Subject: a\r\n\tb\r\n\r\n").subject == "a\tb"
