"""Mail nobody here wrote, plus seeded damage: the differential test's and the bench's corpus.

``real()`` reads the messages in ``tests/mail/corpus/`` (CPython's, django-mailbox's,
mail-parser's, talon's and dkimpy's test mail; sources and licences in its
``LICENCES.md``). ``broken(messages, count, seed)`` makes damaged copies of them the
way real mail gets damaged (cut off, a lost or doubled line, stray bytes, other line
ends, a mangled header), and ``fuzz(count, seed)`` builds messages from random
pieces that mail clients really send (tricky address lists, encoded words, charsets,
transfer encodings, nested multiparts) and then damages some of them. Everything is
reproducible for a seed.
"""

from __future__ import annotations

import base64
import binascii
import random
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "mail" / "corpus"


def real() -> list[tuple[str, bytes]]:
    """Return ``(name, raw bytes)`` of every third-party message, sorted by name."""
    return [
        (str(p.relative_to(CORPUS)), p.read_bytes())
        for p in sorted(CORPUS.rglob("*.eml"))
        if p.is_file()
    ]


# ---------------------------------------------------------------------------
# Damage
# ---------------------------------------------------------------------------

# Line ends are damaged separately (lost, doubled or other lines), not byte-wise.
_STRAY = [b"\x00", b"\xff", b"\xc3", b"=", b"-", b'"', b";", b"<", b">", b"\t", b"!", b" "]


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


def _header_end(raw: bytes) -> int:
    """Where the first blank line ends (the body starts), or the end."""
    found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    if not found:
        return len(raw)
    i, n = min(found)
    return i + n


def _cut(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _drop_line(rng: random.Random, raw: bytes) -> bytes:
    lines = _lines(raw)
    if lines:
        del lines[rng.randrange(len(lines))]
    return b"".join(lines)


def _double_line(rng: random.Random, raw: bytes) -> bytes:
    lines = [line for line in _lines(raw) if line.endswith(b"\n")]
    if lines:
        line = rng.choice(lines)
        at = raw.find(line)
        raw = raw[:at] + line + raw[at:]
    return raw


def _double_delimiter(rng: random.Random, raw: bytes) -> bytes:
    lines = _lines(raw)
    delims = [i for i, line in enumerate(lines) if line.startswith(b"--") and len(line) > 4]
    if not delims:
        return _double_line(rng, raw)
    i = rng.choice(delims)
    lines.insert(i, lines[i])
    return b"".join(lines)


# Random bytes go into the body only: a random byte in a header field makes
# garbage that no two parsers read alike, and tests nothing. Headers get the
# damage real mail shows (raw 8-bit text, mangled parameters, missing lines).


def _body_position(rng: random.Random, raw: bytes) -> int | None:
    """A position in a body (not in a part's header block, not splitting a CRLF)."""
    start = _header_end(raw)
    if start >= len(raw):
        return None
    for _ in range(8):
        at = rng.randrange(start, len(raw))
        blank = max(raw.rfind(b"\n\n", 0, at), raw.rfind(b"\n\r\n", 0, at))
        if raw.rfind(b"\n--", 0, at) < blank:
            return at if raw[at - 1 : at] != b"\r" else at + 1
    return None


def _stray_byte(rng: random.Random, raw: bytes) -> bytes:
    at = _body_position(rng, raw)
    return raw if at is None else raw[:at] + rng.choice(_STRAY) + raw[at:]


def _flip_byte(rng: random.Random, raw: bytes) -> bytes:
    at = _body_position(rng, raw)
    if at is None or at >= len(raw) or raw[at] in b"\r\n":
        return raw
    new = rng.choice([b for b in range(256) if b not in b"\r\n"])
    return raw[:at] + bytes([new]) + raw[at + 1 :]


def _line_ends(rng: random.Random, raw: bytes) -> bytes:
    lf = raw.replace(b"\r\n", b"\n")
    return rng.choice([lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")])


def _no_separator(rng: random.Random, raw: bytes) -> bytes:
    end = _header_end(raw)
    if end >= len(raw):
        return raw
    sep = b"\r\n" if raw.endswith(b"\r\n", 0, end) else b"\n"
    return raw[: end - len(sep)] + raw[end:]


def _raw_8bit_header(rng: random.Random, raw: bytes) -> bytes:
    word = rng.choice(["Zoë Müller", "café één", "Grüße", "Ærø", "日本語"])
    data = word.encode(rng.choice(["utf-8", "utf-8", "latin-1"]), "replace")
    name = rng.choice([b"Subject: ", b"From: "])
    at = raw.find(name)
    if at < 0:
        return data + b": " + raw
    at += len(name)
    return raw[:at] + data + b" " + raw[at:]


def _mangle_boundary(rng: random.Random, raw: bytes) -> bytes:
    at = raw.lower().find(b"boundary=")
    if at < 0:
        return _stray_byte(rng, raw)
    at += len(b"boundary=")
    end = at
    while end < len(raw) and raw[end : end + 1] not in (b"\r", b"\n", b";"):
        end += 1
    value = raw[at:end]
    choice = rng.randrange(4)
    if choice == 0:
        value = value + b"x"
    elif choice == 1:
        value = value.strip(b'"')
    elif choice == 2:
        value = b'"' + value.strip(b'"')
    else:
        value = value + b" ; " + value
    return raw[:at] + value + raw[end:]


def _multipart_encoding(rng: random.Random, raw: bytes) -> bytes:
    end = _header_end(raw)
    nl = b"\r\n" if b"\r\n" in raw[:end] else b"\n"
    cte = rng.choice([b"base64", b"quoted-printable", b"8bit"])
    return b"Content-Transfer-Encoding: " + cte + nl + raw


def _charset(rng: random.Random, raw: bytes) -> bytes:
    at = raw.lower().find(b"charset=")
    if at < 0:
        return _raw_8bit_header(rng, raw)
    at += len(b"charset=")
    end = at
    while end < len(raw) and raw[end : end + 1] not in (b"\r", b"\n", b";", b" "):
        end += 1
    new = rng.choice([b"x-unknown", b'"utf-8"', b"gb2312", b"utf-16", b"iso-8859-15", b"zlib"])
    return raw[:at] + new + raw[end:]


def _b64_stray(rng: random.Random, raw: bytes) -> bytes:
    at = raw.lower().find(b"base64")
    if at < 0:
        return _stray_byte(rng, raw)
    body = raw.find(b"\n\n", at)
    body2 = raw.find(b"\n\r\n", at)
    starts = [i for i in (body, body2) if i >= 0]
    if not starts:
        return _stray_byte(rng, raw)
    start = min(starts) + 3
    if start >= len(raw):
        return raw
    pos = start + rng.randrange(min(200, len(raw) - start))
    junk = rng.choice([b"\xdf", b"=", b"==", b"!", b"*", b"A"])
    return raw[:pos] + junk + raw[pos:]


_DAMAGE = [
    (_cut, 3),
    (_drop_line, 3),
    (_double_line, 2),
    (_double_delimiter, 2),
    (_stray_byte, 3),
    (_flip_byte, 2),
    (_line_ends, 1),
    (_no_separator, 1),
    (_raw_8bit_header, 2),
    (_mangle_boundary, 2),
    (_multipart_encoding, 1),
    (_charset, 2),
    (_b64_stray, 2),
]


def damage(rng: random.Random, raw: bytes) -> bytes:
    """Return ``raw`` with one or two kinds of damage picked by ``rng``."""
    funcs = [f for f, _ in _DAMAGE]
    weights = [w for _, w in _DAMAGE]
    for _ in range(rng.choice([1, 1, 2])):
        raw = rng.choices(funcs, weights)[0](rng, raw)
    return raw


def broken(messages: list[tuple[str, bytes]], count: int, seed: int) -> list[tuple[str, bytes]]:
    """Return ``count`` damaged copies of randomly picked ``messages``."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        name, raw = rng.choice(messages)
        out.append((f"broken-{seed}-{n}:{name}", damage(rng, raw)))
    return out


# ---------------------------------------------------------------------------
# Fuzz: messages built from random, realistic pieces
# ---------------------------------------------------------------------------

_NAMES = ["Jan de Vries", "Zoë Müller", "Renée, R.", "O'Brien", "李小龙", "ceo@bank.example", ""]
_LOCALS = ["jan", "info", "a.b", "x+tag", "bob"]
_DOMAINS = ["example.nl", "example.com", "attacker.example", "bank.example"]
_CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "gb2312", "koi8-r", "us-ascii", "x-unknown"]


def _encoded_word(rng: random.Random, text: str) -> str:
    charset = rng.choice(["utf-8", "utf-8", "iso-8859-1", "gb2312"])
    data = text.encode(charset, "replace")
    if rng.random() < 0.5:
        payload = base64.b64encode(data).decode()
        return f"=?{charset}?B?{payload}?="
    q = "".join(
        chr(b) if chr(b).isalnum() and b < 128 else ("_" if b == 32 else f"={b:02X}") for b in data
    )
    return f"=?{charset}?Q?{q}?="


def _mailbox(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    addr = f"{rng.choice(_LOCALS)}@{rng.choice(_DOMAINS)}"
    shape = rng.randrange(9)
    if shape == 0 or not name:
        return addr
    if shape == 1:
        return f'"{name}" <{addr}>'
    if shape == 2:
        return f"{_encoded_word(rng, name)} <{addr}>"
    if shape == 3:
        return f"{addr} ({name})"
    if shape == 4:
        return f"{addr} <{addr}>"
    if shape == 5:
        return f'"{name}\\"x" <{addr}>'
    if shape == 6:
        return f"<{addr}>"
    if shape == 7:
        return f"{name} <{addr}>"
    return f'"{addr}" <{rng.choice(_LOCALS)}@{rng.choice(_DOMAINS)}>'


def _address_list(rng: random.Random) -> str:
    items = [_mailbox(rng) for _ in range(rng.choice([1, 1, 2, 3]))]
    if rng.random() < 0.1:
        items = [f"Team: {', '.join(items)};"]
    return ", ".join(items)


def _text(rng: random.Random) -> str:
    words = ["Hallo", "café", "één", "Grüße", "日本語", "offerte", "polis", "\u2013", "€"]
    return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 40))) + "\n"


def _leaf(rng: random.Random, nl: str, subtype: str) -> str:
    charset = rng.choice(_CHARSETS)
    text = _text(rng) if subtype == "plain" else f"<p>{_text(rng)}</p>"
    data = text.encode(charset if charset != "x-unknown" else "utf-8", "replace")
    cte = rng.choice(["7bit", "8bit", "base64", "quoted-printable"])
    if cte == "base64":
        body = base64.encodebytes(data).decode("ascii")
    elif cte == "quoted-printable":
        body = binascii.b2a_qp(data).decode("ascii")
    else:
        body = data.decode("latin-1")
    return (
        f"Content-Type: text/{subtype}; charset={charset}{nl}"
        f"Content-Transfer-Encoding: {cte}{nl}{nl}{body}"
    )


def _attachment(rng: random.Random, nl: str) -> str:
    data = rng.randbytes(rng.randrange(0, 3000))
    name = rng.choice(["a.pdf", "résumé.pdf", "€ rates.xlsx", "日本.txt", "rapport.zip"])
    raw_name = name.encode("utf-8").decode("latin-1")  # raw 8-bit UTF-8, as clients send it
    shape = rng.randrange(4)
    if shape == 0:
        disp = f'attachment; filename="{raw_name}"'
    elif shape == 1:
        disp = "attachment; filename*=UTF-8''" + "".join(
            chr(b) if chr(b).isalnum() and b < 128 else f"%{b:02X}" for b in name.encode()
        )
    elif shape == 2:
        disp = f'attachment; filename="{_encoded_word(rng, name)}"'
    else:
        disp = "inline"
    cte = rng.choice(["base64", "base64", "x-uuencode", "quoted-printable"])
    if cte == "base64":
        body = base64.encodebytes(data).decode("ascii")
    elif cte == "quoted-printable":
        body = binascii.b2a_qp(data).decode("ascii")
    else:
        lines = [binascii.b2a_uu(data[i : i + 45]).decode() for i in range(0, len(data), 45)]
        body = f"begin 644 {raw_name}\n" + "".join(lines) + "`\nend\n"
    body = body.replace("\n", nl)
    return (
        f'Content-Type: application/octet-stream; name="{raw_name}"{nl}'
        f"Content-Disposition: {disp}{nl}Content-Transfer-Encoding: {cte}{nl}{nl}{body}"
    )


def _body(rng: random.Random, nl: str, depth: int) -> str:
    kind = rng.randrange(5) if depth < 3 else 0
    if kind <= 1:
        return _leaf(rng, nl, "plain" if kind == 0 else "html")
    if kind == 2:
        return _attachment(rng, nl)
    subtype = rng.choice(["mixed", "alternative", "related"])
    boundary = f"=_b{depth}_{rng.randrange(10**6)}"
    parts = [_body(rng, nl, depth + 1) for _ in range(rng.randrange(1, 4))]
    inner = "".join(f"--{boundary}{nl}{p}{nl}" for p in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{nl}{nl}{inner}--{boundary}--{nl}'
    )


def fuzz(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Return ``count`` random messages; about half of them are damaged afterwards."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        nl = rng.choice(["\r\n", "\r\n", "\n"])
        subject = _text(rng).strip()
        if rng.random() < 0.5:
            subject = " ".join(_encoded_word(rng, w) for w in subject.split()[:5])
        headers = [
            f"From: {_address_list(rng)}",
            f"To: {_address_list(rng)}",
            f"Subject: {subject}",
            f"Date: {rng.choice(['Tue, 3 Mar 2026 10:00:00 +0100', 'gisteren', '3 Mar 2026 10:00 -0000'])}",
            f"Message-ID: <{n}.{seed}@fuzz.example>",
            "MIME-Version: 1.0",
        ]
        if rng.random() < 0.5:
            headers.append(f"Cc: {_address_list(rng)}")
        rng.shuffle(headers)
        # Headers in raw UTF-8 where a name is not encoded; bodies are bytes as
        # latin-1 text (each part encoded in its own charset).
        raw = (nl.join(headers) + nl).encode("utf-8") + _body(rng, nl, 0).encode("latin-1")
        if rng.random() < 0.5:
            raw = damage(rng, raw)
        out.append((f"fuzz-{seed}-{n}", raw))
    return out
