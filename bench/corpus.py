"""Deterministic generator of a realistic mail corpus for benchmarks and tests.

``generate(count, seed)`` yields raw RFC 5322 messages (CRLF line endings)
averaging ~97 KB: plain-text replies, HTML newsletters with inline images,
messages with PDF/JPEG-like base64 attachments, a few 5-10 MB monsters,
Dutch text with non-ASCII names, quoted-printable bodies, forwards
(message/rfc822), auto-replies/bounces and a few broken messages (bad
charset, bad boundary, missing Message-ID, truncated).

Usage: ``python bench/corpus.py --count 10000 --out DIR`` writes
``DIR/00000.eml`` ... and prints the count and total size.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

_WORDS = [
    "de",
    "het",
    "een",
    "en",
    "van",
    "in",
    "is",
    "dat",
    "op",
    "te",
    "zijn",
    "met",
    "voor",
    "niet",
    "aan",
    "er",
    "maar",
    "om",
    "ook",
    "als",
    "bij",
    "nog",
    "dan",
    "wat",
    "naar",
    "uit",
    "door",
    "over",
    "kan",
    "wel",
    "zo",
    "worden",
    "project",
    "vergadering",
    "morgen",
    "offerte",
    "factuur",
    "planning",
    "overleg",
    "afspraak",
    "graag",
    "groeten",
    "bedankt",
    "vraag",
    "antwoord",
    "document",
    "bijlage",
    "rapport",
    "klant",
    "levering",
    "week",
    "maand",
    "kwartaal",
    "budget",
    "team",
    "the",
    "and",
    "of",
    "to",
    "for",
    "meeting",
    "report",
    "invoice",
    "please",
    "attached",
    "thanks",
    "regards",
    "schedule",
    "update",
    "review",
    "café",
    "één",
    "coördinatie",
    "België",
    "ruïne",
    "enquête",
    "Zoë",
    "reünie",
    "geïnteresseerd",
    "financiële",
]
_NAMES = [
    "Jan de Vries",
    "Piet Jansen",
    "Zoë Müller",
    "Renée Janssen",
    "Daniël Bakker",
    "Sjaak van 't Hof",
    "Anna Smit",
    "Klaas, K.",
    "Mark Visser",
    "Eléonore Dubois",
    "Sanne Mulder",
    "Tom Peters",
]
_DOMAINS = ["example.nl", "voorbeeld.be", "example.com", "bedrijf.nl", "mail.example.org"]
_FILES = [
    ("offerte 2026.pdf", "application/pdf"),
    ("factuur-8812.pdf", "application/pdf"),
    ("Coördinatie overzicht.pdf", "application/pdf"),
    ("foto_café.jpg", "image/jpeg"),
    ("IMG_2041.jpg", "image/jpeg"),
    ("rapport Q3 \u2013 définitief.pdf", "application/pdf"),
]
_T0 = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1)))


def _ew(text: str, rng: random.Random) -> str:
    """RFC 2047-encode ``text`` when needed, in words short enough to fold."""
    if text.isascii():
        return text
    words = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode()) > 30:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    if rng.random() < 0.5:
        enc = [f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words]
    else:
        enc = [
            "=?utf-8?q?"
            + binascii.b2a_qp(w.encode(), header=True).decode().replace("?", "=3F")
            + "?="
            for w in words
        ]
    return "\n ".join(enc)


def _addr(rng: random.Random, name: str | None = None) -> tuple[str, str]:
    name = name if name is not None else rng.choice(_NAMES)
    local = name.split()[0].lower().strip(",").encode("ascii", "ignore").decode() or "x"
    addr = f"{local}.{rng.randrange(1000)}@{rng.choice(_DOMAINS)}"
    if not name:
        return name, addr
    if name.isascii():
        shown = f'"{name}"' if any(c in name for c in ",.'") else name
    else:
        shown = _ew(name, rng)
    return name, f"{shown} <{addr}>"


def _text(rng: random.Random, size: int) -> str:
    words = rng.choices(_WORDS, k=max(1, size // 6))
    lines = []
    line: list[str] = []
    n = 0
    for w in words:
        line.append(w)
        n += len(w) + 1
        if n > 64:
            lines.append(" ".join(line))
            line, n = [], 0
            if rng.random() < 0.1:
                lines.append("")
    lines.append(" ".join(line))
    return "\n".join(lines) + "\n"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return _crlf(base64.encodebytes(data))


def _text_part(rng: random.Random, text: str, subtype: str = "plain") -> bytes:
    """A text part with a randomly chosen charset/transfer encoding."""
    r = rng.random()
    if text.isascii() and r < 0.5:
        return _crlf(f"Content-Type: text/{subtype}; charset=us-ascii\n\n{text}".encode())
    if r < 0.7:
        head = f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        return _crlf(head.encode() + text.encode())
    if r < 0.9:
        charset = "iso-8859-1" if rng.random() < 0.3 else "utf-8"
        body = binascii.b2a_qp(text.encode(charset, "replace"))
        head = f'Content-Type: text/{subtype}; charset="{charset}"\nContent-Transfer-Encoding: quoted-printable\n\n'
        return _crlf(head.encode() + body)
    head = f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    return _crlf(head.encode()) + _b64(text.encode())


def _multipart(subtype: str, parts: list[bytes], boundary: str, extra: str = "") -> bytes:
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}\r\n\r\n'.encode()]
    out.append(b"This is a multi-part message in MIME format.\r\n")
    for p in parts:
        out.append(f"--{boundary}\r\n".encode())
        out.append(p)
        if not p.endswith(b"\r\n"):
            out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _attachment(rng: random.Random, size: int) -> bytes:
    name, ctype = rng.choice(_FILES)
    magic = b"%PDF-1.4\n" if ctype == "application/pdf" else b"\xff\xd8\xff\xe0\x00\x10JFIF"
    data = magic + rng.randbytes(max(0, size - len(magic)))
    if name.isascii():
        disp = f'attachment; filename="{name}"'
        ctline = f'{ctype}; name="{name}"'
    elif rng.random() < 0.5:
        quoted = "".join(
            ch
            if (ch.isascii() and (ch.isalnum() or ch in "-_."))
            else "".join(f"%{b:02X}" for b in ch.encode())
            for ch in name
        )
        disp = f"attachment;\n filename*=UTF-8''{quoted}"
        ctline = f"{ctype}"
    else:
        ew = f"=?utf-8?b?{base64.b64encode(name.encode()).decode()}?="
        disp = f'attachment; filename="{ew}"'
        ctline = f'{ctype}; name="{ew}"'
    head = f"Content-Type: {ctline}\nContent-Disposition: {disp}\nContent-Transfer-Encoding: base64\n\n"
    return _crlf(head.encode()) + _b64(data)


def _headers(
    rng: random.Random, i: int, subject: str, extra: list[str] | None = None, msgid: bool = True
) -> bytes:
    _, frm = _addr(rng)
    tos = ", ".join(_addr(rng)[1] for _ in range(rng.randint(1, 3)))
    date = _T0 + timedelta(minutes=i * 7 + rng.randrange(5))
    lines = [
        f"Return-Path: <bounce-{i}@{rng.choice(_DOMAINS)}>",
        f"Received: from mx{rng.randrange(9)}.{rng.choice(_DOMAINS)} (mx.example [10.0.{i % 256}.1])"
        f"\n\tby imap.postkamer.test with ESMTPS id {rng.randrange(16**10):010x};"
        f" {format_datetime(date)}",
        f"From: {frm}",
        f"To: {tos}",
    ]
    if rng.random() < 0.3:
        lines.append(f"Cc: {_addr(rng)[1]}")
    lines.append(f"Subject: {_ew(subject, rng)}")
    lines.append(f"Date: {format_datetime(date)}")
    if msgid:
        lines.append(f"Message-ID: <{i}.{rng.randrange(10**9)}@{rng.choice(_DOMAINS)}>")
    lines.append("MIME-Version: 1.0")
    lines.extend(extra or [])
    return _crlf(("\n".join(lines) + "\n").encode())


def _subject(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(2, 8))).capitalize()


def _plain(rng: random.Random, i: int, scale: float) -> bytes:
    extra = []
    subj = _subject(rng)
    if rng.random() < 0.6:
        parent = f"<{i - 1}.{rng.randrange(10**9)}@example.com>"
        extra = [f"In-Reply-To: {parent}", f"References: <root.{i}@example.com>\n {parent}"]
        subj = "Re: " + subj
    text = _text(rng, int(rng.randint(2000, 10000) * scale))
    if extra:
        text += "\n" + "".join(
            "> " + ln + "\n" for ln in _text(rng, int(1500 * scale)).splitlines()
        )
    return _headers(rng, i, subj, extra) + _text_part(rng, text)


def _newsletter(rng: random.Random, i: int, scale: float) -> bytes:
    n_img = rng.randint(1, 3)
    paras = "".join(
        f'<p style="color:#333">{_text(rng, 600)}</p>\n'
        for _ in range(int(rng.randint(20, 45) * scale) + 1)
    )
    imgs = "".join(f'<img src="cid:img{k}.{i}@news" alt="beeld {k}">' for k in range(n_img))
    html = f'<html><body><table><tr><td>{imgs}</td></tr></table>{paras}<a href="https://news.example/u">Afmelden</a></body></html>\n'
    plain = _text(rng, len(html) // 4)
    related = [_text_part(rng, html, "html")]
    for k in range(n_img):
        data = rng.randbytes(int(rng.randint(3000, 12000) * scale))
        related.append(
            _crlf(
                f"Content-Type: image/png\nContent-ID: <img{k}.{i}@news>\n"
                f"Content-Disposition: inline\nContent-Transfer-Encoding: base64\n\n".encode()
            )
            + _b64(data)
        )
    body = _multipart(
        "alternative",
        [_text_part(rng, plain), _multipart("related", related, f"rel-{i}-{rng.randrange(10**6)}")],
        f"alt-{i}-{rng.randrange(10**6)}",
    )
    extra = [
        "List-Id: Nieuwsbrief <nieuws.example.nl>",
        "List-Unsubscribe: <https://news.example/u>",
        "Precedence: bulk",
    ]
    return _headers(rng, i, "Nieuwsbrief: " + _subject(rng), extra) + body


def _with_attachments(rng: random.Random, i: int, scale: float, lo: int, hi: int, n: int) -> bytes:
    parts = [_text_part(rng, _text(rng, int(rng.randint(500, 3000) * scale)))]
    for _ in range(n):
        # Log-uniform sizes: many small scans, a few big ones.
        size = int(lo * (hi / lo) ** rng.random() * scale)
        parts.append(_attachment(rng, size))
    body = _multipart("mixed", parts, f"----=_Part_{i}_{rng.randrange(10**9)}")
    return _headers(rng, i, _subject(rng)) + body


def _forward(rng: random.Random, i: int, scale: float) -> bytes:
    inner = _plain(rng, i + 100000, scale)
    parts = [
        _text_part(rng, "Zie doorgestuurd bericht.\n" + _text(rng, 500)),
        b'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="doorgestuurd.eml"\r\n\r\n'
        + inner,
    ]
    return _headers(rng, i, "Fwd: " + _subject(rng)) + _multipart("mixed", parts, f"fwd{i}")


def _bounce(rng: random.Random, i: int, scale: float) -> bytes:
    orig = _plain(rng, i + 200000, scale * 0.3)
    parts = [
        _text_part(rng, "Delivery to the following recipient failed permanently.\n"),
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.nl\r\n"
        b"\r\nFinal-Recipient: rfc822; nobody@example.nl\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        b"Content-Type: message/rfc822\r\n\r\n" + orig,
    ]
    head = _headers(rng, i, "Undelivered Mail Returned to Sender", ["Auto-Submitted: auto-replied"])
    head = head.replace(b"Return-Path: <", b"Return-Path: <>\r\nX-Orig-Return-Path: <", 1)
    return head + _multipart("report", parts, f"dsn{i}", "; report-type=delivery-status")


def _broken(rng: random.Random, i: int, scale: float) -> bytes:
    kind = rng.randrange(4)
    text = _text(rng, int(3000 * scale))
    if kind == 0:  # undecodable charset
        return _headers(rng, i, _subject(rng)) + _crlf(
            b'Content-Type: text/plain; charset="x-unknown"\nContent-Transfer-Encoding: 8bit\n\n'
            + text.encode("utf-8")
            + b"\xff\xfe caf\xe9\n"
        )
    if kind == 1:  # declared boundary never occurs
        return _headers(rng, i, _subject(rng)) + _crlf(
            b'Content-Type: multipart/mixed; boundary="nope"\n\n--other\nContent-Type: text/plain\n\n'
            + text.encode()
        )
    if kind == 2:  # no Message-ID
        return _headers(rng, i, _subject(rng), msgid=False) + _text_part(rng, text)
    full = _with_attachments(rng, i, scale, 20_000, 60_000, 1)  # truncated mid-attachment
    return full[: len(full) * 2 // 3]


_KINDS = [
    ("plain", 0.561),
    ("newsletter", 0.30),
    ("attach", 0.059),
    ("large", 0.002),
    ("forward", 0.03),
    ("bounce", 0.03),
    ("broken", 0.018),
]


def generate(count: int, seed: int = 1, scale: float = 1.0) -> Iterator[bytes]:
    """Yield ``count`` raw messages, reproducibly for a given ``seed``.

    ``scale`` shrinks (< 1) bodies and attachments, e.g. for fast tests.
    Raises nothing beyond MemoryError.
    """
    rng = random.Random(seed)
    names = [k for k, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    for i in range(count):
        kind = rng.choices(names, weights)[0]
        if kind == "plain":
            yield _plain(rng, i, scale)
        elif kind == "newsletter":
            yield _newsletter(rng, i, scale)
        elif kind == "attach":
            yield _with_attachments(rng, i, scale, 100_000, 1_000_000, rng.choice([1, 1, 2, 3]))
        elif kind == "large":
            yield _with_attachments(rng, i, scale, 5_000_000, 10_000_000, 1)
        elif kind == "forward":
            yield _forward(rng, i, scale)
        elif kind == "bounce":
            yield _bounce(rng, i, scale)
        else:
            yield _broken(rng, i, scale)


def main() -> None:
    """Command-line entry point: write the corpus to ``--out`` as .eml files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--out", type=Path, default=None, help="directory for .eml files (omit to only measure)"
    )
    args = ap.parse_args()
    total = 0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(generate(args.count, args.seed)):
        total += len(raw)
        if args.out:
            (args.out / f"{n:05d}.eml").write_bytes(raw)
    print(
        f"messages: {args.count}  total: {total / 1e6:.1f} MB  average: {total / max(1, args.count) / 1e3:.1f} KB"
    )


if __name__ == "__main__":
    main()
