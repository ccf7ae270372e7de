"""Building the mail we send: headers, the HTML and text alternatives, attachments.

The message is an ``email.message.EmailMessage`` serialised with the SMTP policy
(CRLF line ends, RFC 2047 / 2231 encoding of non-ASCII headers and file names):

    multipart/mixed                      (only with attachments)
      multipart/alternative
        text/plain   made from the HTML (``html.html_to_plain_text``)
        text/html    the body inside an element carrying the template's font
      attachments…

Header values that would contain CR or LF are refused by :func:`header_problems`
before anything is built (a line break in a header is how header injection
works); nothing here strips them silently. Nothing here imports Django.
"""

from __future__ import annotations

import datetime as dt
import html as html_mod
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from postkamer.mail.html import html_to_plain_text

__all__ = [
    "RESERVED_HEADERS",
    "Attachment",
    "Built",
    "Font",
    "Spec",
    "build",
    "has_line_break",
    "idna_address",
    "make_message_id",
    "wrap_html",
]

#: Headers :func:`build` writes itself; ``Spec.extra_headers`` may not set them.
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "From",
        "Sender",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
    )
)
#: References kept in a reply: the first (the thread's root) and the latest ones.
MAX_REFERENCES = 20


def has_line_break(value: str) -> bool:
    """Return True when ``value`` holds CR or LF (or another line separator a
    mail header must not contain)."""
    return any(ch in value for ch in "\r\n\x0b\x0c\x85\u2028\u2029")


def idna_address(address: str) -> str:
    """Return ``address`` with its domain in ASCII (IDNA), as SMTP needs it.

    Raises ``ValueError`` when the domain cannot be encoded."""
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an address: {address!r}")
    if domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def make_message_id(sender_address: str) -> str:
    """Return a new ``<…@domain>`` Message-ID on the sender's domain."""
    domain = idna_address(sender_address).rpartition("@")[2]
    return make_msgid(domain=domain)


@dataclass(frozen=True)
class Font:
    """The template font: a CSS ``font-family`` list, a size in points, a colour."""

    family: str
    size_pt: int
    color: str

    def css(self) -> str:
        """Return the inline style declaration for this font."""
        return f"font-family: {self.family}; font-size: {self.size_pt}pt; color: {self.color};"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Spec:
    """Everything a message is made of. Addresses are ``(display name, address)``
    pairs; ``body_html`` must already be sanitised."""

    sender: tuple[str, str]
    to: Sequence[tuple[str, str]]
    subject: str
    body_html: str
    cc: Sequence[tuple[str, str]] = ()
    bcc: Sequence[tuple[str, str]] = ()
    font: Font | None = None
    message_id: str | None = None
    date: dt.datetime | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()
    extra_headers: Sequence[tuple[str, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Built:
    """``raw`` is what the SMTP server gets (no Bcc header); ``copy`` is the same
    message with the Bcc header, for the sender's own sent folder."""

    raw: bytes
    copy: bytes
    message_id: str


def wrap_html(body_html: str, font: Font | None) -> str:
    """Return a complete HTML document whose body wraps ``body_html`` in an
    element styled with ``font`` (inline: many mail programs ignore ``<style>``)."""
    style = f' style="{html_mod.escape(font.css(), quote=True)}"' if font else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f"<body><div{style}>{body_html}</div></body></html>\n"
    )


def _address(pair: tuple[str, str]) -> Address:
    name, address = pair
    return Address(display_name=name or "", addr_spec=idna_address(address))


def _references(in_reply_to: str | None, references: Sequence[str]) -> list[str]:
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return refs


def build(spec: Spec) -> Built:
    """Return the serialised message for ``spec``.

    Raises ``ValueError`` when a header value holds a line break or an address
    cannot be encoded; callers validate first (and name the field to the user).
    """
    msg = EmailMessage(policy=email_policy.SMTP)
    message_id = spec.message_id or make_message_id(spec.sender[1])
    msg["From"] = _address(spec.sender)
    if spec.to:
        msg["To"] = [_address(a) for a in spec.to]
    if spec.cc:
        msg["Cc"] = [_address(a) for a in spec.cc]
    msg["Subject"] = spec.subject
    msg["Date"] = format_datetime(spec.date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id
    if spec.in_reply_to:
        msg["In-Reply-To"] = spec.in_reply_to
        msg["References"] = " ".join(_references(spec.in_reply_to, spec.references))
    for name, value in spec.extra_headers:
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by the builder")
        msg[name] = value
    # Quoted-printable, not 8bit: every server takes it, with or without 8BITMIME.
    msg.set_content(html_to_plain_text(spec.body_html) or "\n", cte="quoted-printable")
    msg.add_alternative(
        wrap_html(spec.body_html, spec.font), subtype="html", cte="quoted-printable"
    )
    for item in spec.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=item.filename or None
        )
    raw = msg.as_bytes()
    if spec.bcc:
        # The boundaries were fixed by the first serialisation, so the copy is the
        # same message plus this one header.
        msg["Bcc"] = [_address(a) for a in spec.bcc]
        copy = msg.as_bytes()
    else:
        copy = raw
    return Built(raw=raw, copy=copy, message_id=message_id)
