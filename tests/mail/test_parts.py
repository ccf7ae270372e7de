"""Streaming part extraction (``postkamer.mail.parts``) against ``mime.extract_part``."""

from __future__ import annotations

import base64
import mmap
import tracemalloc

import pytest

from bench.corpus import generate
from postkamer.mail import mime, parts


def _decoded(raw: bytes, part: str, chunk: int = parts.CHUNK) -> bytes | None:
    located = parts.locate(raw, part)
    if located is None:
        return None
    return b"".join(parts.iter_decoded(raw, located, chunk))


def test_every_attachment_of_the_benchmark_corpus_decodes_as_extract_part_does():
    checked = 0
    for raw in generate(120, seed=7, scale=0.05):
        parsed = mime.parse_message(raw)
        for attachment in parsed.attachments:
            expected = mime.extract_part(raw, attachment.part)[2]
            # A small chunk size crosses line and quad boundaries often.
            assert _decoded(raw, attachment.part, chunk=1000) == expected, attachment
            checked += 1
    assert checked > 50


NESTED = (
    b"From: a@example.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"--outer\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
    b'Subject: inner\r\nContent-Type: multipart/mixed; boundary="in"\r\n\r\n'
    b"--in\r\nContent-Type: text/plain\r\n\r\ninner body\r\n"
    b'--in\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(b"%PDF-1.4 x" * 50)
    + b"--in--\r\n"
    b"--outer\r\nContent-Type: text/csv; name=b.csv\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db;c=\r\nd\r\n"
    b"--outer--\r\n"
)


@pytest.mark.parametrize("part", ["1", "2", "2.1", "2.2", "3", "9", "2.9"])
def test_nested_parts_are_numbered_as_the_parser_numbers_them(part):
    try:
        expected: bytes | None = mime.extract_part(NESTED, part)[2]
    except KeyError:
        expected = None
    assert _decoded(NESTED, part, chunk=7) == expected


def test_a_message_without_mime_structure_is_part_one():
    raw = b"From: a@example.test\nSubject: x\n\nplain body\n"
    assert _decoded(raw, "1") == mime.extract_part(raw, "1")[2]
    assert parts.locate(raw, "2") is None


def _b64_message(body: bytes) -> bytes:
    return (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"\r\n--b--\r\n"
    )


def test_base64_without_padding_is_decoded_like_the_parser():
    raw = _b64_message(b"aGVsbG8g\r\nd29ybGQ")
    assert _decoded(raw, "1", chunk=5) == mime.extract_part(raw, "1")[2] == b"hello world"


def test_a_stray_character_in_base64_costs_nothing_but_itself():
    assert _decoded(_b64_message(b"aGVsbG8gd29y*bGQ"), "1") == b"hello world"


def test_a_large_attachment_is_decoded_from_a_mapped_file_in_small_pieces(tmp_path):
    payload = bytes(range(256)) * (4 * 1024 * 8)  # 8 MiB
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b'Content-Type: application/zip; name="big.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(payload).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )
    path = tmp_path / "segment"
    path.write_bytes(b"x" * 100 + raw)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        tracemalloc.start()
        located = parts.locate(mm, "2", 100, 100 + len(raw))
        assert located is not None
        size = 0
        digest = bytearray()
        for piece in parts.iter_decoded(mm, located):
            size += len(piece)
            digest.extend(piece[:1])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert size == len(payload)
    # One chunk and the parsed headers, whatever the size of the attachment.
    assert peak < 1024 * 1024, peak
