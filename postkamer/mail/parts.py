"""Find one MIME part of a stored message by offsets and decode it piece by piece.

:func:`postkamer.mail.mime.extract_part` returns a part's decoded bytes in one
piece, which is right for a small inline image but not for serving a 10 MB
attachment: the raw message, the base64 text and the decoded bytes would all be
in memory at once. Here the message is any buffer with ``find`` and slicing (a
read-only ``mmap`` of the pack segment, or the bytes of a database row), the part
is located by searching for boundaries, and :func:`iter_decoded` yields the
decoded content in small chunks, so memory stays at one chunk plus the buffer
(which for a ``mmap`` is the page cache, not the process heap).

Part numbers are IMAP-style ("2", "2.1") and follow the same rules as
``mime.parse_message`` (a non-multipart message is part "1"; a message/rfc822
part "3" holds "3.1"…); ``tests/mail/test_parts.py`` compares both on a corpus.
Headers are read with the standard :mod:`email` parser, on the header bytes only.

Nothing here imports Django.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from typing import Any, Protocol

__all__ = ["Buffer", "Located", "iter_decoded", "locate"]

CHUNK = 64 * 1024
_MAX_DEPTH = 40
_HEADER_START_RE = re.compile(rb"[!-9;-~]+:|From |\r?\n")
_NOT_B64_RE = re.compile(rb"[^A-Za-z0-9+/=]+")


class Buffer(Protocol):
    """What the walker needs of the message bytes (``bytes`` and ``mmap`` have it)."""

    def find(self, sub: bytes, start: int = ..., end: int = ...) -> int: ...
    def __getitem__(self, key: Any) -> Any: ...


@dataclass(frozen=True)
class Located:
    """Where a part's body sits in the buffer and how it is encoded."""

    start: int
    end: int
    transfer_encoding: str
    content_type: str


def _split(buf: Buffer, start: int, end: int) -> tuple[int, int]:
    """Return (end of the headers, start of the body) of the entity at start..end."""
    if buf[start : start + 1] == b"\n":
        return start, start + 1
    if buf[start : start + 2] == b"\r\n":
        return start, start + 2
    candidates = []
    for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n"):
        i = buf.find(sep, start, end)
        if i >= 0:
            candidates.append((i, sep))
    if not candidates:
        return end, end
    i, sep = min(candidates)
    if sep == b"\r\n\r\n":
        return i + 2, i + 4
    return i + 1, i + len(sep)


def _headers(buf: Buffer, start: int, end: int) -> tuple[Message, int]:
    """Parse the headers of the entity at start..end; return them and the body start."""
    if start < end and not _HEADER_START_RE.match(bytes(buf[start : min(end, start + 1000)])):
        return message_from_bytes(b"", policy=email_policy.compat32), start
    header_end, body_start = _split(buf, start, end)
    raw = bytes(buf[start:header_end])
    return message_from_bytes(raw, policy=email_policy.compat32), body_start


def _next_delimiter(buf: Buffer, delim: bytes, pos: int, end: int) -> tuple[int, int, bool] | None:
    """The next line that is exactly the delimiter (or the close delimiter):
    (the newline before it, the start of the line after it, is it the close)."""
    while True:
        i = buf.find(delim, max(pos, 0), end)
        if i < 0:
            return None
        j = i + len(delim)
        close = buf[j : j + 2] == b"--"
        k = j + 2 if close else j
        nl = buf.find(b"\n", k, min(end, k + 256))
        line_end = nl if nl >= 0 else min(end, k + 256)
        if not bytes(buf[k:line_end]).strip(b" \t\r") and (nl >= 0 or line_end == end):
            return i, (nl + 1 if nl >= 0 else end), close
        pos = j


def _children(buf: Buffer, boundary: str, body_start: int, end: int) -> list[tuple[int, int]]:
    """The (start, end) of each part of a multipart body; [] without a delimiter."""
    try:
        delim = b"\n--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        delim = b"\n--" + boundary.encode("utf-8")
    found = _next_delimiter(buf, delim, body_start - 1, end)
    if found is None:
        return []
    _, part_start, closed = found
    parts = []
    while not closed:
        nxt = _next_delimiter(buf, delim, part_start - 1, end)
        if nxt is None:
            part_end, after, closed = end, end, True
        else:
            part_end, after, closed = nxt
            # The CRLF before a delimiter belongs to the delimiter.
            if part_end > part_start and buf[part_end - 1 : part_end] == b"\r":
                part_end -= 1
            part_end = max(part_end, part_start)
        parts.append((part_start, part_end))
        part_start = after
    return parts


def _join(path: str, n: int) -> str:
    return f"{path}.{n}" if path else str(n)


def locate(buf: Buffer, part: str, start: int = 0, end: int | None = None) -> Located | None:
    """Find part ``part`` of the message at ``buf[start:end]``; None when it has none.

    Never reads more of the buffer than the boundary searches need.
    """
    end = len(buf) if end is None else end  # type: ignore[arg-type]
    return _walk(buf, part, start, end, "", True, "text/plain", 0)


def _walk(
    buf: Buffer,
    want: str,
    start: int,
    end: int,
    path: str,
    is_root: bool,
    default_type: str,
    depth: int,
) -> Located | None:
    if depth > _MAX_DEPTH:
        return None
    headers, body_start = _headers(buf, start, end)
    cte = (headers.get("content-transfer-encoding") or "").strip().lower()
    ctype = headers.get_content_type() if headers.get("content-type") else default_type
    if headers.get_content_maintype() == "multipart" and headers.get("content-type"):
        boundary = headers.get_boundary()
        if boundary and cte not in ("base64", "quoted-printable"):
            children = _children(buf, boundary, body_start, end)
            if children:
                default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                for n, (s, e) in enumerate(children, start=1):
                    child = _join(path, n)
                    if want == child or want.startswith(child + "."):
                        return _walk(buf, want, s, e, child, False, default, depth + 1)
                return None
        ctype = "text/plain"
    if ctype in ("message/rfc822", "message/global") and cte not in ("base64", "quoted-printable"):
        if want == path:
            return Located(body_start, end, cte, ctype)
        return _walk(buf, want, body_start, end, path, True, "text/plain", depth + 1)
    leaf = _join(path, 1) if is_root else path
    if want == leaf:
        return Located(body_start, end, cte, ctype)
    return None


def iter_decoded(buf: Buffer, located: Located, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield the decoded content of ``located`` in pieces of about ``chunk`` bytes.

    base64 is decoded leniently (characters outside the alphabet are skipped and a
    missing padding is added), quoted-printable line by line; anything else is
    passed through as it is.
    """
    cte = located.transfer_encoding
    if cte == "base64":
        yield from _base64(buf, located, chunk)
    elif cte == "quoted-printable":
        yield from _quoted_printable(buf, located, chunk)
    else:
        for pos in range(located.start, located.end, chunk):
            yield bytes(buf[pos : min(pos + chunk, located.end)])


def _base64(buf: Buffer, located: Located, chunk: int) -> Iterator[bytes]:
    carry = b""
    for pos in range(located.start, located.end, chunk):
        data = carry + _NOT_B64_RE.sub(b"", bytes(buf[pos : min(pos + chunk, located.end)]))
        usable = len(data) - len(data) % 4
        carry = data[usable:]
        if usable:
            yield _b64_quads(data[:usable])
    tail = carry.rstrip(b"=")
    if len(tail) % 4 > 1:
        yield _b64_quads(tail + b"=" * (-len(tail) % 4))


def _b64_quads(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        # Padding in the middle of the text (two encodings glued together): decode
        # what can be decoded, as the lenient single-piece decoder does.
        cleaned = data.replace(b"=", b"")
        cleaned = cleaned[: len(cleaned) - (len(cleaned) % 4 == 1)]
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except binascii.Error:
            return b""


def _quoted_printable(buf: Buffer, located: Located, chunk: int) -> Iterator[bytes]:
    carry = b""
    for pos in range(located.start, located.end, chunk):
        data = carry + bytes(buf[pos : min(pos + chunk, located.end)])
        cut = data.rfind(b"\n") + 1
        if cut:
            carry = data[cut:]
            yield binascii.a2b_qp(data[:cut])
        else:
            carry = data
    if carry:
        yield binascii.a2b_qp(carry)
