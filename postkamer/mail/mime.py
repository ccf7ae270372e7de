"""Fast, robust MIME parsing for bulk mail storage (the HTML cleaner is in ``html``).

The standard :mod:`email` package parses every body line in pure Python,
which is far too slow when storing hundreds of megabytes of mail that is
mostly base64 attachments. This module walks the MIME structure with byte
operations (``bytes.find``/``bytes.count`` on offsets into the raw message,
never copying attachment bodies), decodes only the text/plain and text/html
bodies, and records attachments by name, type and exact decoded size.

Headers are parsed with small, purpose-built helpers, address lists by our
own reading of RFC 5322 (so a display name can never pass for the address,
and the result is the same on every Python version), dates with
:func:`email.utils.parsedate_to_datetime`; ``policy.default`` header objects
cost ~0.6 ms per message, which alone would blow the time budget.

When the fast path hits anything it cannot handle it falls back to the full
:mod:`email` parser (``policy.default``) for that one message, and when that
fails too a placeholder with the problem code ``"unparseable"`` is
returned: :func:`parse_message` never raises.

Nothing here imports Django.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

__all__ = [
    "Address",
    "Attachment",
    "ParsedMessage",
    "extract_part",
    "header_block",
    "parse_message",
]

# Problem codes (kept as constants so callers can compare without typos).
UNPARSEABLE = "unparseable"
BAD_CHARSET = "bad_charset"
BAD_BOUNDARY = "bad_boundary"
BAD_DATE = "bad_date"
BAD_ADDRESS = "bad_address"
BAD_ENCODING = "bad_encoding"
BAD_HEADER = "bad_header"
NO_MESSAGE_ID = "no_message_id"
TRUNCATED = "truncated"
FALLBACK_PARSER = "fallback_parser"
TOO_DEEP = "too_deep"
BAD_LINE_END = "bad_line_end"

# Nesting beyond this is treated as hostile (zip-bomb style MIME trees).
_MAX_DEPTH = 40


@dataclass
class Address:
    """A mailbox: display name (decoded, may be "") and addr-spec."""

    name: str
    address: str


@dataclass
class Attachment:
    """An attachment recorded without decoding its body.

    ``part`` is the IMAP-style part number ("2", "2.1") that
    :func:`extract_part` accepts to fetch the decoded bytes again.
    """

    filename: str
    content_type: str
    size: int
    content_id: str | None
    inline: bool
    part: str


@dataclass
class ParsedMessage:
    """Parsed fields of one message; see :func:`parse_message`."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    sender: Address | None = None
    date: datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    headers_only: bool = False
    problems: list[str] = field(default_factory=list)
    auto_submitted: str | None = None
    list_id: str | None = None
    precedence: str | None = None
    return_path: str | None = None
    is_auto: bool = False


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


class _Problems(list):
    """Ordered list of unique problem codes."""

    def add(self, code: str) -> None:
        if code not in self:
            self.append(code)


# Codecs Python knows but no mail charset means; "unicode_escape" & co.
# would reinterpret backslashes in the text.
_NOT_MAIL_CODECS = frozenset(
    ["unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"]
)


@functools.lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """Return the Python codec name for a MIME charset, or None if unusable."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):
        return None
    if (
        not getattr(info, "_is_text_encoding", True)
        or info.name.replace("-", "_") in _NOT_MAIL_CODECS
    ):
        return None
    return info.name


def _decode_bytes(data: bytes | memoryview, charset: str | None, problems: _Problems) -> str:
    """Decode text bytes in their declared ``charset``; never raises.

    A known declared charset wins: bytes that do not fit it become U+FFFD
    (``bad_charset``), so one bad byte costs one character, not the whole
    text. The one exception is text that is valid UTF-8 throughout: a label
    that does not fit it is taken to be wrong (random non-UTF-8 text is
    practically never valid UTF-8). A missing or ASCII label means UTF-8, and
    so does an unknown one (``bad_charset``), with each stray byte read as
    windows-1252 (see :func:`_utf8_else_cp1252`): real mail carries
    unlabelled 8-bit text, and a single-byte charset loses nothing.
    """
    cs = (charset or "").strip().strip('"').lower()
    if cs in ("utf-8", "utf8"):
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError:
            problems.add(BAD_CHARSET)
            return str(data, "utf-8", "replace")
    codec = _codec(cs) if cs and cs not in ("us-ascii", "ascii") else None
    if codec is not None:
        try:
            return str(data, codec)
        except UnicodeError:
            problems.add(BAD_CHARSET)
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return str(data, codec, "replace")
        except (UnicodeError, TypeError, ValueError):
            pass  # a codec that fails even with "replace": fall through
    elif cs and cs not in ("us-ascii", "ascii"):
        problems.add(BAD_CHARSET)
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        problems.add(BAD_CHARSET)
    return _utf8_else_cp1252(data)


# A byte that is not part of valid UTF-8, read as windows-1252 (its five
# unassigned bytes as Latin-1).
_CP1252 = [bytes([b]).decode("windows-1252", "ignore") or chr(b) for b in range(256)]
_CP1252_TABLE = "".join(_CP1252)
_MAX_STRAY = 16


class _ManyStrayBytes(Exception):
    """More bytes are not UTF-8 than a mixed text would have."""


_stray = threading.local()


def _stray_bytes_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _stray.count += exc.end - exc.start
    if _stray.count > _MAX_STRAY:
        raise _ManyStrayBytes
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error("postkamer-cp1252", _stray_bytes_as_cp1252)


def _utf8_else_cp1252(data: bytes | memoryview) -> str:
    """UTF-8 where it is valid and each stray byte windows-1252 (a Latin-1 name
    pasted into UTF-8 text): nothing is lost, nothing mangled. A text with
    more than 16 stray bytes is a single-byte text: windows-1252 throughout
    (so there are never more than 16 Python calls)."""
    _stray.count = 0
    try:
        return str(data, "utf-8", "postkamer-cp1252")
    except _ManyStrayBytes:
        return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


# The encoded text may hold white space where a broken mailer folded the line
# inside the word; it is removed before decoding, as email does.
# A word cut off by the end of the value (a truncated header) is decoded too.
_EW_RE = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)(?:\?=|$)")


def _decode_words(value: str, problems: _Problems) -> str:
    """Decode RFC 2047 encoded words in ``value``.

    Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2) and
    adjacent words in the same charset are decoded together, so multi-byte
    characters split across words survive.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray | None = None
    pending_cs = ""
    pos = 0
    for m in _EW_RE.finditer(value):
        between = value[pos : m.start()]
        adjacent = pending is not None and not between.strip(" \t\r\n")
        charset = m.group(1).split("*", 1)[0]
        payload = m.group(3)
        if " " in payload or "\t" in payload:
            payload = "".join(payload.split())
        try:
            encoded = payload.encode("ascii")
            if m.group(2) in "bB":
                try:
                    data = binascii.a2b_base64(encoded + b"=" * (-len(encoded) % 4))
                except binascii.Error:
                    data = _b64_decode(encoded, problems)
            else:
                data = binascii.a2b_qp(encoded, header=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            problems.add(BAD_ENCODING)
            if pending is not None:
                out.append(_decode_bytes(bytes(pending), pending_cs, problems))
                pending = None
            out.append(between + m.group(0))
            pos = m.end()
            continue
        if adjacent and charset.lower() == pending_cs.lower():
            pending += data  # type: ignore[operator]
        else:
            if pending is not None:
                out.append(_decode_bytes(bytes(pending), pending_cs, problems))
            if not adjacent:
                out.append(between)
            pending = bytearray(data)
            pending_cs = charset
        pos = m.end()
    if pending is not None:
        out.append(_decode_bytes(bytes(pending), pending_cs, problems))
    out.append(value[pos:])
    return "".join(out)


# One header field: name, colon, value including folded continuation lines.
_FIELD_RE = re.compile(r"([!-9;-~]+):([^\n]*(?:\n[ \t][^\n]*)*)(?:\n|$)")


def _parse_header_text(text: str, problems: _Problems) -> tuple[list[tuple[str, str]], int]:
    """Split a header block into ``(lowercase name, value)`` pairs.

    Folding CR/LF are removed but continuation whitespace is kept, exactly as
    ``policy.default`` does, and the value is stripped at both ends. mbox
    ``From `` lines and stray continuation lines are skipped. Returns the
    pairs and the number of the first line that cannot be a header (where the
    body really starts: ``bad_header``), or -1.
    """
    headers: list[tuple[str, str]] = []
    pos = 0
    n = len(text)
    match = _FIELD_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            c = text[pos]
            if c not in " \t\r\n" and not text.startswith("From ", pos):
                problems.add(BAD_HEADER)
                return headers, text.count("\n", 0, pos)
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl + 1
            continue
        value = m.group(2)
        if "\n" in value:
            value = value.replace("\r\n", "").replace("\n", "")
        headers.append((m.group(1).lower(), value.strip()))
        pos = m.end()
    return headers, -1


def _read_headers(
    raw: bytes, start: int, end: int, problems: _Problems
) -> tuple[list[tuple[str, str]], int, int]:
    """Read the header block of the entity ``raw[start:end]``.

    Returns ``(fields, header_end, body_start)``; ``header_end`` includes the
    last header's line ending. The headers end at the first blank line or at
    the first line that cannot be a header: then that line starts the body,
    as when a sender forgets the blank line (``bad_header``). ``body_start``
    is -1 when the entity is all headers.
    """
    hdr_end, body_start = _blank_line(raw, start, end)
    headers, bad_line = _parse_header_text(
        _header_text(memoryview(raw)[start:hdr_end], problems), problems
    )
    if bad_line >= 0:
        # Lines are counted in the text; decoding keeps every line end.
        hdr_end = start
        for _ in range(bad_line):
            hdr_end = raw.index(b"\n", hdr_end) + 1
        body_start = hdr_end
    return headers, hdr_end, body_start


def _header_text(data: bytes | memoryview, problems: _Problems) -> str:
    """Decode raw header bytes: ASCII, or each line UTF-8, else windows-1252.

    Line by line, because one sloppy field (a Latin-1 name) must not turn a
    correct UTF-8 subject into mojibake.
    """
    try:
        return str(data, "ascii")
    except UnicodeDecodeError:
        pass
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        pass
    return "\n".join(_decode_bytes(line, None, problems) for line in bytes(data).split(b"\n"))


# A run of non-";" text in which quoted strings (which may hold ";" and
# escapes, and may be unterminated) count as single tokens.
_PARAM_SEG_RE = re.compile(r'(?:[^;"]+|"(?:[^"\\]|\\.)*(?:"|$))+')


def _split_params(value: str) -> list[str]:
    """Split a parameterised header on ``;`` outside quoted strings."""
    if '"' not in value:
        return value.split(";")
    main, _, rest = value.partition(";")
    if '"' in main:
        # Quotes before the first ";" are not a valid type; keep it simple.
        return value.split(";")
    return [main, *_PARAM_SEG_RE.findall(rest)]


_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.?)*)', re.S)


def _unquote(v: str) -> str:
    """The value of a parameter: a quoted string's content (text after its
    closing quote is ignored, as ``email`` does), else the stripped token."""
    v = v.strip()
    if not v.startswith('"'):
        return v
    m = _QUOTED_RE.match(v)
    inner = m.group(1) if m else v[1:]
    return _UNESCAPE_RE.sub(r"\1", inner) if "\\" in inner else inner


_PCT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _pct_decode(v: str) -> bytes:
    """Undo RFC 2231 %XX escapes; stray raw non-ASCII is kept as UTF-8."""
    return _PCT_RE.sub(lambda m: bytes([int(m.group(1), 16)]), v.encode("utf-8", "surrogateescape"))


def _parse_params(value: str, problems: _Problems) -> tuple[str, dict[str, str]]:
    """Parse ``type/sub; a=b; c*=utf-8''x`` into (lowercase main value, params).

    Handles quoted strings, RFC 2231 extended values and continuations, and
    RFC 2047 encoded words inside (quoted) values as mail clients send them.
    """
    segs = _split_params(value)
    main = segs[0].strip().lower()
    params: dict[str, str] = {}
    ext: dict[str, dict[int, tuple[bool, str]]] = {}
    for seg in segs[1:]:
        n, sep, v = seg.partition("=")
        if not sep:
            continue
        n = n.strip().lower()
        if "*" in n:
            base, _, rest = n.partition("*")
            encoded = rest.endswith("*") or rest == ""
            idx_s = rest.rstrip("*")
            try:
                idx = int(idx_s) if idx_s else 0
            except ValueError:
                continue
            ext.setdefault(base, {})[idx] = (encoded, v.strip())
        else:
            params[n] = _unquote(v)
    for base, pieces in ext.items():
        charset = ""
        buf = bytearray()
        for i, idx in enumerate(sorted(pieces)):
            encoded, v = pieces[idx]
            if encoded:
                v = _unquote(v)
                if i == 0 and v.count("'") >= 2:
                    charset, _lang, v = v.split("'", 2)
                buf += _pct_decode(v)
            else:
                buf += _unquote(v).encode("utf-8")
        params[base] = _decode_bytes(bytes(buf), charset or "utf-8", problems)
    for k, v in params.items():
        if "=?" in v:
            params[k] = _decode_words(v, problems)
    return main, params


def _blank_line(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Find the first blank line in ``raw[start:end]``.

    Returns ``(end of the line before it, start of the line after it)``, or
    ``(end, -1)`` when there is none. Searches the dominant line-ending style
    first so a CRLF message is not scanned end to end looking for ``\\n\\n``.
    """
    if raw.startswith(b"\n", start, end):
        return start, start + 1
    if raw.startswith(b"\r\n", start, end):
        return start, start + 2
    nl = raw.find(b"\n", start, end)
    if nl < 0:
        return end, -1
    crlf = nl > start and raw[nl - 1] == 13
    first, second = (b"\n\r\n", b"\n\n") if crlf else (b"\n\n", b"\n\r\n")
    i = raw.find(first, start, end)
    j = raw.find(second, start, i + 2 if i >= 0 else end)
    if j >= 0 and (i < 0 or j < i):
        i, sep = j, second
    else:
        sep = first
    if i < 0:
        return end, -1
    return i + 1, i + len(sep)


# Lines that can belong to a header block: fields, continuation lines and
# mbox "From " lines (email accepts those anywhere among the headers).
# Used to tell whether a body is a message.
_HEADER_LINES_RE = re.compile(rb"(?:(?:From |[!-9;-~]+:|[ \t])[^\n]*(?:\n|\Z))*")


def _looks_like_headers(raw: bytes, start: int, end: int) -> bool:
    """True when ``raw[start:end]`` starts with at least two header lines."""
    m = _HEADER_LINES_RE.match(raw, start, min(end, start + 4096))
    return m is not None and raw.count(b"\n", start, m.end()) >= 2


def header_block(raw: bytes) -> bytes:
    """Return the header bytes of ``raw``.

    The result ends with the last header's line ending and excludes the blank
    separator line; the whole input is returned when there is no body, and
    ``b""`` when the input does not start with a header field. Never raises
    for bytes input.
    """
    raw = _line_ends(raw, _Problems())
    _, end, _ = _read_headers(raw, 0, len(raw), _Problems())
    return raw[:end]


_BARE_CR_RE = re.compile(rb"\r(?!\n)")
# A lone CR followed by a header field or by another lone CR (a blank line).
_CR_LINE_RE = re.compile(rb"\r(?:[!-9;-~]+:|\r(?!\n))")


def _line_ends(raw: bytes, problems: _Problems) -> bytes:
    """``raw`` with lone CRs made LFs when its header lines end in them.

    Old Mac software ended lines with a lone CR. Read as it is, such a message
    is one endless header line; ``email`` treats a lone CR as a line end
    everywhere. We do so only when a lone CR ends a header line (one stray CR
    inside a field of an ordinary message changes nothing), and then in the
    whole message: a copy is made only for such messages (``bad_line_end``).
    """
    limit = min(len(raw), 8192)
    m = _CR_LINE_RE.search(raw, 0, limit)
    if m is None or m.start() >= _blank_line(raw, 0, limit)[0]:
        return raw
    problems.add(BAD_LINE_END)
    return _BARE_CR_RE.sub(b"\n", raw)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_OTHER = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
_B64_CHUNK = 1 << 18
_B64_CLEAN = _B64_ALPHABET + b"= \t\r\n"


def _b64_decode(data: bytes | memoryview, problems: _Problems) -> bytes:
    """Decode base64 the way every download of it is decoded; never raises.

    Like ``email``: bytes outside the alphabet are skipped, a padded group
    ends the data, and a missing pad is added. One character too many (a
    length that no encoder makes) is dropped where ``email`` would give up and
    return the encoded text.
    """
    try:
        decoded = binascii.a2b_base64(data)
    except binascii.Error:
        pass
    else:
        # Junk the decoder skipped? Only line ends and two pads may remain
        # beyond the characters the decoded length needs (counted in C).
        extra = len(data) - (len(decoded) + 2) // 3 * 4 - 2
        if extra > 0:
            data = bytes(data)
            if extra > data.count(b"\n") + data.count(b"\r") and data.translate(None, _B64_CLEAN):
                problems.add(BAD_ENCODING)
        return decoded
    problems.add(BAD_ENCODING)
    data = bytes(data)
    try:
        return binascii.a2b_base64(data + b"==")
    except binascii.Error:
        pass
    # A lone last character: drop it (and the pads or junk after it).
    kept = data.rstrip(_B64_OTHER)
    try:
        return binascii.a2b_base64(kept[:-1])
    except binascii.Error:  # pragma: no cover - a2b_base64 accepts any whole quads
        return b""


def _b64_size(raw: bytes, s: int, e: int, problems: _Problems) -> int:
    """Exact length of :func:`_b64_decode` of ``raw[s:e]``, mostly without decoding.

    One C-level pass (``bytes.translate``, in chunks so an attachment is never
    copied whole) keeps only the bytes outside the alphabet: line ends, pads
    and junk. When every ``=`` comes after the last data character, the size
    follows from the number of data characters alone, since the decoder
    skips junk; otherwise (a pad in mid-stream) the data is decoded. Adds
    ``bad_encoding`` for junk, an impossible or an unpadded length.
    """
    if e - s <= _B64_CHUNK:
        other = raw[s:e].translate(None, _B64_ALPHABET)
    else:
        other = b"".join(
            raw[i : min(e, i + _B64_CHUNK)].translate(None, _B64_ALPHABET)
            for i in range(s, e, _B64_CHUNK)
        )
    chars = e - s - len(other)
    pads = other.count(b"=")
    if pads:
        tail = raw[max(s, e - 4096) : e]
        kept = tail.rstrip(_B64_OTHER)
        if (not kept and e - s > 4096) or tail.count(b"=", len(kept)) != pads:
            return len(_b64_decode(memoryview(raw)[s:e], problems))
    if other.translate(None, b" \t\r\n="):
        problems.add(BAD_ENCODING)  # junk the decoder skips
    size = chars // 4 * 3
    rem = chars % 4
    if rem == 1:
        problems.add(BAD_ENCODING)
    elif rem:
        size += rem - 1
        if not pads:
            # Unpadded tail: legal-ish, but usually a cut-off body.
            problems.add(BAD_ENCODING)
    return size


_UU_CTES = frozenset(["x-uuencode", "uuencode", "uue", "x-uue"])


def _uu_decode(data: bytes | memoryview, problems: _Problems) -> bytes:
    """Decode a uuencoded body (``begin <mode> <name>`` ... ``end``).

    Lines a broken encoder made too long are cut to their declared length,
    as ``email`` does; a body without a ``begin`` line is kept as it is.
    """
    lines = bytes(data).splitlines()
    begin = next(
        (
            n
            for n, line in enumerate(lines)
            if line.startswith(b"begin ") and line[6:].split(b" ", 1)[0].isdigit()
        ),
        None,
    )
    if begin is None:
        problems.add(BAD_ENCODING)
        return bytes(data)
    out = bytearray()
    for line in lines[begin + 1 :]:
        if line.strip() == b"end":
            return bytes(out)
        if not line:
            break
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            try:
                out += binascii.a2b_uu(line[: (((line[0] - 32) & 63) * 4 + 5) // 3])
            except binascii.Error:
                problems.add(BAD_ENCODING)
    problems.add(BAD_ENCODING)  # no "end" line: cut off
    return bytes(out)


def _decode_cte(data: bytes | memoryview, cte: str, problems: _Problems) -> bytes | memoryview:
    """Undo a Content-Transfer-Encoding (unknown ones leave the bytes as they are)."""
    if cte == "base64":
        return _b64_decode(data, problems)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    if cte in _UU_CTES:
        return _uu_decode(data, problems)
    return data


# ---------------------------------------------------------------------------
# Shared assembly rules for both the fast walker and the email fallback
# ---------------------------------------------------------------------------


class _Ctx:
    """Collects bodies and attachments; both walkers feed it identically."""

    def __init__(self, problems: _Problems, locate: str | None = None) -> None:
        self.problems = problems
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[Attachment] = []
        # extract_part() mode: the path to find and what was found there.
        self.locate = locate
        self.found: tuple[str, str, Callable[[], bytes]] | None = None

    def leaf(
        self,
        path: str,
        ctype: str,
        disposition: str,
        filename: str,
        cid: str | None,
        nested: bool,
        text: Callable[[], str],
        size: Callable[[], int],
        payload: Callable[[], bytes],
    ) -> None:
        """Apply the body/attachment selection rules to one leaf part.

        Depth-first, the first unnamed, non-attachment text/plain part becomes
        ``text`` and the first such text/html part ``html``; later ones, and
        every other leaf, are attachments. Parts inside a message/rfc822 are
        never the outer message's body. ``text``/``size``/``payload`` are
        called lazily so unused bodies are never decoded.
        """
        filename = _printable(filename)
        if self.locate is not None:
            if path == self.locate:
                self.found = (filename, ctype, payload)
            return
        if not filename and disposition != "attachment" and ctype in ("text/plain", "text/html"):
            if nested:
                # The body of a forwarded message is part of its .eml entry;
                # listing it again as an unnamed attachment is just noise.
                return
            if ctype == "text/plain" and self.text is None:
                self.text = text()
                return
            if ctype == "text/html" and self.html is None:
                self.html = text()
                return
        inline = disposition == "inline" or (not disposition and cid is not None)
        self.attachments.append(Attachment(filename, ctype, size(), cid, inline, path))


def _join(path: str, n: int | str) -> str:
    return f"{path}.{n}" if path else str(n)


def _clean_cid(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip().strip("<>").strip()
    return v or None


def _norm_text(s: str) -> str:
    # Stored text uses \n line endings regardless of the wire format.
    return s.replace("\r\n", "\n") if "\r" in s else s


# ---------------------------------------------------------------------------
# Fast walker
# ---------------------------------------------------------------------------


_NOT_BLANK_RE = re.compile(rb"[^\r\n \t]")


class _FastWalker:
    """Walks MIME structure by offsets into ``raw``; bodies are never copied.

    Each entity is ``raw[start:end]``; part contents are located with
    ``bytes.find`` on the delimiter and handed to :class:`_Ctx` as lazy
    callables, so attachments are only measured, not decoded.
    """

    def __init__(self, raw: bytes, ctx: _Ctx) -> None:
        self.raw = raw
        self.mv = memoryview(raw)
        self.ctx = ctx
        self.problems = ctx.problems

    def entity(
        self,
        start: int,
        end: int,
        path: str,
        is_root: bool,
        nested: bool,
        default_type: str,
        depth: int,
        headers: list[tuple[str, str]] | None = None,
        body_start: int | None = None,
    ) -> None:
        """Walk the MIME entity ``raw[start:end]`` (headers + body)."""
        if depth > _MAX_DEPTH:
            self.problems.add(TOO_DEEP)
            return
        raw = self.raw
        if headers is None:
            # A line that cannot be a header starts the body, as in email; a
            # part with no header at all is all body.
            headers, _, body_start = _read_headers(raw, start, end, self.problems)
        assert body_start is not None
        if body_start < 0:
            body_start = end
        ct_value = cte = disp_value = ""
        cid: str | None = None
        for name, value in headers:
            if name == "content-type" and not ct_value:
                ct_value = value
            elif name == "content-transfer-encoding" and not cte:
                cte = value.strip().lower()
            elif name == "content-disposition" and not disp_value:
                disp_value = value
            elif name == "content-id" and cid is None:
                cid = _clean_cid(value)
        ctype, params = _parse_params(ct_value, self.problems) if ct_value else (default_type, {})
        if ctype.count("/") != 1 or not ctype.split("/")[0] or not ctype.split("/")[1]:
            # email treats a malformed type as text/plain (RFC 2045 §5.2).
            ctype = "text/plain" if ct_value else default_type
        maintype = ctype.split("/")[0]
        disposition, dparams = _parse_params(disp_value, self.problems) if disp_value else ("", {})

        if maintype == "multipart":
            # A transfer encoding on a multipart is forbidden (RFC 2045 §6.4)
            # but real mail has it; the parts are readable as they are.
            boundary = params.get("boundary", "")
            text_end = (
                self.multipart(boundary, ctype, body_start, end, path, nested, depth)
                if boundary
                else end
            )
            if text_end is None:
                return
            if _NOT_BLANK_RE.search(raw, body_start, text_end) is None:
                return  # an empty multipart: no text to keep, nothing lost
            self.problems.add(BAD_BOUNDARY)
            # Never lose the text: the body is shown as plain text.
            end = text_end
            ctype = "text/plain"
            params = {"charset": params.get("charset", "")}

        leaf_path = _join(path, 1) if is_root else path
        filename = dparams.get("filename") or params.get("name") or ""

        if ctype in ("message/rfc822", "message/global") and (
            cte not in ("base64", "quoted-printable") or _looks_like_headers(raw, body_start, end)
        ):
            # A transfer encoding on a forwarded message is forbidden (RFC 2046
            # §5.2.1); when the body plainly is a message, it is read as one.
            inner_headers, _, inner_body = _read_headers(raw, body_start, end, self.problems)
            if not filename:
                subj = next((v for n, v in inner_headers if n == "subject"), "")
                filename = (_decode_words(subj, self.problems).strip() or "message") + ".eml"
            self.ctx.leaf(
                path,
                ctype,
                disposition,
                filename,
                cid,
                True,
                str,
                lambda: end - body_start,
                lambda: raw[body_start:end],
            )
            self.entity(
                body_start,
                end,
                path,
                True,
                True,
                "text/plain",
                depth + 1,
                inner_headers,
                inner_body,
            )
            return

        charset = params.get("charset")

        def text() -> str:
            data = _decode_cte(self.mv[body_start:end], cte, self.problems)
            return _norm_text(_decode_bytes(data, charset, self.problems))

        def size() -> int:
            if cte == "base64":
                return _b64_size(raw, body_start, end, self.problems)
            if cte == "quoted-printable" or cte in _UU_CTES:
                return len(_decode_cte(self.mv[body_start:end], cte, self.problems))
            return end - body_start

        def payload() -> bytes:
            return bytes(_decode_cte(self.mv[body_start:end], cte, self.problems))

        self.ctx.leaf(leaf_path, ctype, disposition, filename, cid, nested, text, size, payload)

    def multipart(
        self,
        boundary: str,
        ctype: str,
        body_start: int,
        end: int,
        path: str,
        nested: bool,
        depth: int,
    ) -> int | None:
        """Walk the children of a multipart body.

        Returns None when it did, else where the text to show instead ends: no
        delimiter at all keeps the whole body, a closing delimiter with no
        opening one the text before it.
        """
        raw = self.raw
        try:
            delim = b"\n--" + boundary.encode("ascii")
        except UnicodeEncodeError:
            delim = b"\n--" + boundary.encode("utf-8")
        default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        # The body always follows a newline, so searching from body_start-1
        # also matches a delimiter on the very first body line.
        found = self._next_delim(delim, body_start - 1, end)
        if found is None:
            return end
        nl, part_start, closed = found
        if closed:
            return max(body_start, nl + 1)
        n = 0
        while not closed:
            nxt = self._next_delim(delim, part_start - 1, end)
            if nxt is None:
                # Message ends inside this multipart: keep what we have.
                self.problems.add(BAD_BOUNDARY)
                self.problems.add(TRUNCATED)
                part_end, after, closed = end, end, True
                if end == len(raw):
                    # Cut off at the very end: the last line end would have
                    # belonged to the missing delimiter, as email reads it.
                    part_end -= 2 if raw.endswith(b"\r\n") else raw.endswith(b"\n")
            else:
                part_end, after, closed = nxt
                # The CRLF before a delimiter belongs to the delimiter.
                if part_end > part_start and raw[part_end - 1] == 13:
                    part_end -= 1
            part_end = max(part_end, part_start)
            n += 1
            if _NOT_BLANK_RE.search(raw, part_start, part_end) is not None:
                self.entity(part_start, part_end, _join(path, n), False, nested, default, depth + 1)
            # else: nothing between two delimiters; not an (empty) attachment.
            part_start = after
        return None

    def _next_delim(self, delim: bytes, pos: int, end: int) -> tuple[int, int, bool] | None:
        """Find the next delimiter line.

        Returns ``(newline before it, start of the following line, is_close)``
        or None; lines that merely start with the delimiter are skipped.
        """
        raw = self.raw
        while True:
            i = raw.find(delim, max(pos, 0), end)
            if i < 0:
                return None
            j = i + len(delim)
            close = raw.startswith(b"--", j, end)
            k = j + 2 if close else j
            nl = raw.find(b"\n", k, min(end, k + 256))
            line_end = nl if nl >= 0 else min(end, k + 256)
            if not raw[k:line_end].strip(b" \t\r") and (nl >= 0 or line_end == end):
                return i, (nl + 1 if nl >= 0 else end), close
            pos = j


# ---------------------------------------------------------------------------
# Full (email package) walker: the fallback and the reference
# ---------------------------------------------------------------------------


def _full_part_params(
    part: Message, problems: _Problems
) -> tuple[str | None, str, str, str | None]:
    """Return (content-id, disposition, filename, charset) of an email part.

    Each lookup parses a header with ``policy.default``, whose parser has
    crash bugs (IndexError/AttributeError) on some garbage, so every lookup
    is guarded and degrades to "absent".
    """
    cid: str | None = None
    disposition = filename = ""
    charset: str | None = None
    try:
        value = part["content-id"]
        cid = _clean_cid(str(value)) if value is not None else None
    except Exception:
        problems.add(BAD_HEADER)
    try:
        disposition = part.get_content_disposition() or ""
        raw_name = part.get_filename() or part.get_param("name") or ""
        if isinstance(raw_name, tuple):  # undecoded RFC 2231 triple
            raw_name = _decode_bytes(
                raw_name[2].encode("latin-1", "replace"), raw_name[0], problems
            )
        filename = str(raw_name)
    except Exception:
        problems.add(BAD_HEADER)
    try:
        cs = part.get_param("charset")
        charset = cs[2] if isinstance(cs, tuple) else (str(cs) if cs else None)
    except Exception:
        problems.add(BAD_HEADER)
    return cid, disposition, filename, charset


def _full_walk(
    part: Message, ctx: _Ctx, path: str, is_root: bool, nested: bool, depth: int
) -> None:
    """Feed an ``email``-parsed tree to ``ctx`` with the fast walker's numbering."""
    if depth > _MAX_DEPTH:
        ctx.problems.add(TOO_DEEP)
        return
    problems = ctx.problems
    ctype = part.get_content_type()
    payload = part.get_payload()
    if part.get_content_maintype() == "multipart":
        if isinstance(payload, list) and payload:
            for n, sub in enumerate(payload, 1):
                _full_walk(sub, ctx, _join(path, n), False, nested, depth + 1)
            return
        if isinstance(payload, str) and not payload.strip():
            return  # an empty multipart: no text to keep, nothing lost
        problems.add(BAD_BOUNDARY)
        ctype = "text/plain"
    if not is_root and not part.keys() and isinstance(payload, str) and not payload.strip():
        return  # nothing between two delimiters
    cid, disposition, filename, charset = _full_part_params(part, problems)
    if ctype in ("message/rfc822", "message/global") and isinstance(payload, list) and payload:
        inner = payload[0]
        if not filename:
            filename = (str(inner["subject"] or "").strip() or "message") + ".eml"

        def body() -> bytes:
            # Re-serialised, so sizes differ slightly from the raw bytes.
            try:
                return inner.as_bytes()
            except Exception:
                problems.add(BAD_ENCODING)
                return b""

        ctx.leaf(path, ctype, disposition, filename, cid, True, str, lambda: len(body()), body)
        _full_walk(inner, ctx, path, True, True, depth + 1)
        return

    def data() -> bytes:
        d = part.get_payload(decode=True)
        if isinstance(d, bytes):
            return d
        return str(payload).encode("utf-8", "surrogateescape")

    ctx.leaf(
        _join(path, 1) if is_root else path,
        ctype,
        disposition,
        filename,
        cid,
        nested,
        lambda: _norm_text(_decode_bytes(data(), charset, problems)),
        lambda: len(data()),
        data,
    )


# ---------------------------------------------------------------------------
# Top-level header fields
# ---------------------------------------------------------------------------

_ID_RE = re.compile(r"<([^<>\s]+)>")
_LIST_HEADERS = frozenset(
    [
        "list-id",
        "list-unsubscribe",
        "list-post",
        "list-help",
        "list-subscribe",
        "list-owner",
        "list-archive",
        "list-unsubscribe-post",
    ]
)
# RFC 5230 §4.6 / RFC 3834: never answer system or list addresses.
_AUTO_LOCALPARTS = re.compile(
    r"^(mailer-daemon|postmaster|listserv|majordomo|mailman|noreply|no-reply|do-not-reply|"
    r"donotreply|bounces?|owner-.*|.*-request|.*-bounces?|.*-owner)$"
)


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    m = _ID_RE.search(value)
    if m:
        return m.group(1)
    v = value.strip().strip("<>").strip()
    return v.split()[0] if v else None


# One mailbox in its common shapes: bare addr-spec, or an optional quoted or
# plain display name followed by <addr-spec>. Anything else (groups,
# comments, routes, names that look like addresses) goes to _parse_addresses.
_MAILBOX_RE = re.compile(
    r'\s*(?:(?:"((?:[^"\\]|\\.)*)"|([^"<>,;:()@\[\]\\]*?))\s*<([^<>\s@",]+@[^<>\s@",]+)>'
    r'|([^<>\s@",;:()]+@[^<>\s@",;:()]+))\s*(?:,|$)'
)
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)


def _quick_addresses(value: str) -> list[tuple[str, str, bool]] | None:
    """Parse the common address-list shapes with one regex; None if unsure."""
    out: list[tuple[str, str, bool]] = []
    pos = 0
    n = len(value)
    while pos < n:
        m = _MAILBOX_RE.match(value, pos)
        if m is None or m.end() == pos:
            return None
        quoted, plain, addr, bare = m.groups()
        if bare is not None:
            out.append(("", bare, True))
        elif quoted is not None:
            out.append((_UNESCAPE_RE.sub(r"\1", quoted) if "\\" in quoted else quoted, addr, True))
        else:
            out.append((" ".join(plain.split()), addr, True))
        pos = m.end()
    return out


# Lexical pieces of an address list (RFC 5322 §3.4): a quoted string, an angle
# address (perhaps cut off by the end of the value), a list or group separator,
# white space, or a run of other text. A quote that is never closed is just a
# character, so it cannot hide an angle address. Comments are read by hand
# because they nest.
_ADDR_TOKEN_RE = re.compile(
    r'(?P<q>"(?:[^"\\]|\\.)*")'
    r"|(?P<a><[^>]*(?:>|$))"
    r"|(?P<s>[,:;])"
    r"|(?P<w>\s+)"
    r'|(?P<t>"|[^"(<,:;\s]+)',
    re.S,
)


def _read_comment(value: str, pos: int) -> tuple[str, int]:
    """Return the text of the (nested) comment opening at ``value[pos]`` and its end."""
    depth = 0
    out: list[str] = []
    n = len(value)
    while pos < n:
        c = value[pos]
        if c == "\\" and pos + 1 < n:
            out.append(value[pos + 1])
            pos += 2
            continue
        if c == "(":
            depth += 1
            if depth > 1:
                out.append(c)
        elif c == ")":
            depth -= 1
            if depth == 0:
                return "".join(out), pos + 1
            out.append(c)
        else:
            out.append(c)
        pos += 1
    return "".join(out), n


def _angle_address(inner: str) -> str:
    """The addr-spec inside ``<...>``: without comments, white space and a source route."""
    if "(" in inner:
        inner = re.sub(r"\([^()]*\)", "", inner)
    addr = "".join(inner.split())
    if addr.startswith("@") and ":" in addr:
        addr = addr.split(":", 1)[1]  # obsolete route: <@relay,@relay:user@host>
    return addr


def _mailbox(
    words: list[list[str]], angles: list[str], comments: list[str]
) -> tuple[str, str, bool]:
    """Make ``(display name, address, well formed)`` from one mailbox's pieces.

    ``words`` are runs of text not separated by white space, each a list of
    pieces (quoted strings keep their quotes here). The first angle address is
    the address and everything else is the display name, whatever it looks
    like; without one, the word holding an ``@`` is the address.
    """
    ok = len(angles) <= 1
    if angles:
        addr = _angle_address(angles[0])
        name_words = words
    elif len(words) == 1 or any(
        w[0].startswith("@") or w[-1].endswith("@") or w[-1].endswith(".") for w in words
    ):
        # One addr-spec, perhaps written with white space around "@" or ".".
        addr = "".join("".join(w) for w in words)
        name_words = []
    else:
        at = [i for i, w in enumerate(words) if "@" in "".join(w)]
        ok = False
        if at:
            addr = "".join(words[at[-1]])
            name_words = words[: at[-1]] + words[at[-1] + 1 :]
        else:
            addr = ""
            name_words = words
    name = " ".join(
        "".join(
            _UNESCAPE_RE.sub(r"\1", p[1:-1] if p.endswith('"') and len(p) > 1 else p[1:])
            if p.startswith('"')
            else p
            for p in w
        )
        for w in name_words
    )
    if not name and comments:
        # Old style "jan@example.nl (Jan Jansen)": the comment names the person.
        name = " ".join(c.strip() for c in comments if c.strip())
    if addr and "@" not in addr:
        ok = False
    return name, addr, ok


def _parse_addresses(value: str) -> list[tuple[str, str, bool]]:
    """Parse an address list into ``(display name, address, well formed)`` triples.

    Our own reading of RFC 5322 §3.4, the same on every Python version: groups
    are flattened, comments dropped (or used as the name when there is none),
    and a mailbox's angle-bracket address is always its address, so a display
    name written like an address can never become one.
    """
    out: list[tuple[str, str, bool]] = []
    words: list[list[str]] = []
    angles: list[str] = []
    comments: list[str] = []
    joined = False  # the next piece continues the current word
    broken = False

    def flush() -> None:
        nonlocal words, angles, comments, broken
        if words or angles:
            name, addr, ok = _mailbox(words, angles, comments)
            out.append((name, addr, ok and not broken))
        words, angles, comments, broken = [], [], [], False

    pos = 0
    n = len(value)
    while pos < n:
        if value[pos] == "(":
            text, pos = _read_comment(value, pos)
            comments.append(text)
            joined = False
            continue
        m = _ADDR_TOKEN_RE.match(value, pos)
        assert m is not None  # the alternatives cover every character
        pos = m.end()
        kind = m.lastgroup
        piece = m.group()
        if kind == "w":
            joined = False
        elif kind == "s":
            if piece == ":" and not angles:
                # A group's name ("Team: a@x, b@y;") or a stray colon: drop it.
                words, comments = [], []
            else:
                flush()
            joined = False
        elif kind == "a":
            if not piece.endswith(">"):
                broken = True
            angles.append(piece[1:-1] if piece.endswith(">") else piece[1:])
            joined = False
        else:
            if piece == '"':
                broken = True  # a quote that is never closed
            if joined and words:
                words[-1].append(piece)
            else:
                words.append([piece])
            joined = True
    flush()
    return out


# C0 and C1 control characters (tab excepted) and the bidirectional overrides
# and isolates: a sender must not be able to break a line or reorder what a
# reader sees ("gnp.exe" shown as "exe.png") in a name, subject or file name.
_CONTROLS = {c: None for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS.update(
    {c: None for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)
del _CONTROLS[0x09]
_CONTROLS[0x0A] = 0x20
_CONTROLS[0x0D] = 0x20
_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """``text`` without control characters; CR and LF become spaces, tabs stay."""
    if text.isprintable() or _CONTROL_RE.search(text) is None:
        return text
    return text.translate(_CONTROLS)


def _addresses(values: list[str], problems: _Problems) -> list[Address]:
    out: list[Address] = []
    for value in values:
        triples = _quick_addresses(value)
        if triples is None:
            triples = _parse_addresses(value)
        for name, addr, ok in triples:
            if not name and not addr:
                continue
            if not ok or (addr and "@" not in addr):
                problems.add(BAD_ADDRESS)
            name = _printable(_decode_words(name, problems)).strip()
            if name.startswith(","):
                # CPython's folder sometimes encodes the list comma itself
                # ("=?utf-8?q?=2C?="), which lands in front of the next name.
                name = name.lstrip(", ")
            out.append(Address(name, _printable(addr)))
    return out


def _parse_date(value: str | None, problems: _Problems) -> datetime | None:
    if value is None:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.add(BAD_DATE)
        return None
    if dt is None:
        problems.add(BAD_DATE)
        return None
    if dt.tzinfo is None:
        # "-0000" means UTC with unknown local zone (RFC 5322 §3.3).
        dt = dt.replace(tzinfo=UTC)
    return dt


def _fill_headers(pm: ParsedMessage, headers: list[tuple[str, str]], problems: _Problems) -> None:
    """Fill the header-derived fields of ``pm`` from decoded header pairs."""
    first: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        first.setdefault(name, value)
        if name in ("to", "cc", "from", "reply-to"):
            multi.setdefault(name, []).append(value)

    pm.message_id = _first_id(first.get("message-id"))
    if pm.message_id is None:
        problems.add(NO_MESSAGE_ID)
    pm.in_reply_to = _first_id(first.get("in-reply-to"))
    refs = first.get("references", "")
    pm.references = _ID_RE.findall(refs) or refs.split()
    pm.subject = _printable(_decode_words(first.get("subject", ""), problems)).strip()
    pm.from_ = _addresses(multi.get("from", []), problems)
    pm.to = _addresses(multi.get("to", []), problems)
    pm.cc = _addresses(multi.get("cc", []), problems)
    pm.reply_to = _addresses(multi.get("reply-to", []), problems)
    sender = _addresses([first["sender"]], problems) if "sender" in first else []
    pm.sender = sender[0] if sender else None
    pm.date = _parse_date(first.get("date"), problems)
    pm.auto_submitted = first.get("auto-submitted")
    pm.list_id = first.get("list-id")
    pm.precedence = first.get("precedence")
    rp = first.get("return-path")
    pm.return_path = rp.strip().strip("<>").strip() if rp is not None else None
    pm.is_auto = _is_auto(pm, first)


def _is_auto(pm: ParsedMessage, first: dict[str, str]) -> bool:
    """RFC 3834 / RFC 5230 style test for mail that must never get auto-replies."""
    auto = (pm.auto_submitted or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return True
    if any(name in _LIST_HEADERS for name in first):
        return True
    if (pm.precedence or "").strip().lower() in ("bulk", "list", "junk", "auto_reply"):
        return True
    if pm.return_path == "":
        return True
    suppress = first.get("x-auto-response-suppress", "").lower()
    if any(v in suppress for v in ("all", "oof", "autoreply")):
        return True
    if any(
        h in first
        for h in ("feedback-id", "x-autoreply", "x-autorespond", "x-auto-reply", "x-mailing-list")
    ):
        return True
    ctype = first.get("content-type", "").lower()
    if ctype.startswith("multipart/report"):
        return True
    for a in pm.from_ + ([pm.sender] if pm.sender else []):
        if _AUTO_LOCALPARTS.match(a.address.rsplit("@", 1)[0].lower()):
            return True
    return False


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def _top_headers(raw: bytes, problems: _Problems) -> tuple[list[tuple[str, str]], int]:
    """The message's header fields and where its body starts (-1: none)."""
    headers, _, body_start = _read_headers(raw, 0, len(raw), problems)
    return headers, body_start


def _parse_fast(raw: bytes, problems: _Problems) -> ParsedMessage:
    headers, body_start = _top_headers(raw, problems)
    pm = ParsedMessage()
    _fill_headers(pm, headers, problems)
    pm.headers_only = body_start < 0 or body_start >= len(raw)
    ctx = _Ctx(problems)
    # Walked even without a body: an empty attachment is still listed.
    _FastWalker(raw, ctx).entity(0, len(raw), "", True, False, "text/plain", 0, headers, body_start)
    pm.text = ctx.text or ""
    pm.html = ctx.html or ""
    pm.attachments = ctx.attachments
    return pm


def _full_headers(msg: Message, problems: _Problems) -> list[tuple[str, str]]:
    """The raw (unfolded, undecoded) header fields as ``email`` split them."""
    out: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        data = str(value).encode("ascii", "surrogateescape")
        text = _header_text(data.replace(b"\r", b"").replace(b"\n", b""), problems)
        out.append((name.lower(), text.strip()))
    return out


def _parse_full(raw: bytes, problems: _Problems) -> ParsedMessage:
    """Parse with the email package (``policy.default``); may raise.

    The header fields are read by our own rules (addresses, encoded words) so
    the fallback shows the same names and addresses as the fast path.
    """
    msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    pm = ParsedMessage()
    try:
        headers, body_start = _top_headers(raw, problems)
    except Exception:
        headers, body_start = _full_headers(msg, problems), 0
    _fill_headers(pm, headers, problems)
    pm.headers_only = body_start < 0 or body_start >= len(raw)
    ctx = _Ctx(problems)
    _full_walk(msg, ctx, "", True, False, 0)
    pm.text = ctx.text or ""
    pm.html = ctx.html or ""
    pm.attachments = ctx.attachments
    return pm


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw RFC 5322 message.

    Returns a :class:`ParsedMessage`. Never raises: if the fast byte walker
    fails, the message is re-parsed with the full ``email`` parser (problem
    ``fallback_parser``); if that fails too, a placeholder carrying
    ``unparseable`` is returned. Other problem codes (``bad_charset``,
    ``bad_boundary``, ``bad_date``, ``bad_address``, ``bad_encoding``,
    ``bad_header``, ``bad_line_end``, ``no_message_id``, ``truncated``,
    ``too_deep``) describe recoverable damage. Other bytes-like inputs are
    copied to ``bytes`` once.
    """
    try:
        if not isinstance(raw, bytes):
            raw = bytes(raw)
    except Exception:
        return ParsedMessage(problems=[UNPARSEABLE])
    problems = _Problems()
    try:
        raw = _line_ends(raw, problems)
        pm = _parse_fast(raw, problems)
    except Exception:
        problems = _Problems([FALLBACK_PARSER])
        try:
            pm = _parse_full(_line_ends(raw, problems), problems)
        except Exception:
            return ParsedMessage(problems=[UNPARSEABLE], headers_only=not raw)
    pm.problems = list(problems)
    return pm


def parse_message_full(raw: bytes) -> ParsedMessage:
    """Parse with the full ``email`` parser and the same extraction rules.

    The slow path that :func:`parse_message` falls back to, and the
    benchmark's peer. Returns a :class:`ParsedMessage`; never raises (a
    placeholder carrying ``unparseable`` when ``email`` itself fails).
    """
    problems = _Problems()
    try:
        pm = _parse_full(_line_ends(bytes(raw), problems), problems)
    except Exception:
        return ParsedMessage(problems=[UNPARSEABLE], headers_only=not raw)
    pm.problems = list(problems)
    return pm


def extract_part(raw: bytes, part: str) -> tuple[str, str, bytes]:
    """Return ``(filename, content_type, decoded bytes)`` of part ``part``.

    ``part`` is an :attr:`Attachment.part` path as produced by
    :func:`parse_message`. Body parts can be fetched too. Raises
    :class:`KeyError` when the message has no such part.
    """
    problems = _Problems()
    ctx = _Ctx(problems, locate=part)
    try:
        raw = _line_ends(bytes(raw), problems)
        _FastWalker(raw, ctx).entity(0, len(raw), "", True, False, "text/plain", 0)
    except Exception:
        ctx = _Ctx(problems, locate=part)
        try:
            msg = BytesParser(policy=email_policy.default).parsebytes(raw)
            _full_walk(msg, ctx, "", True, False, 0)
        except Exception:
            ctx.found = None
    if ctx.found is None:
        raise KeyError(part)
    filename, ctype, payload = ctx.found
    return filename, ctype, bytes(payload())
