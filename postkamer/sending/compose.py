"""What a new message, reply, reply-all or forward starts with: recipients, subject,
and a body with room to type, the signature and the quoted original."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils import formats, timezone
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

from postkamer.mail.html import sanitize_html, sanitize_outgoing_html
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Folder, Message
from postkamer.sending.actions import get_template
from postkamer.sending.addresses import Address
from postkamer.sending.models import OutgoingMessage

Kind = OutgoingMessage.Kind
MODES = (Kind.REPLY, Kind.REPLY_ALL, Kind.FORWARD)

_REPLY_PREFIX = re.compile(r"^\s*(re|antw|aw|sv)\s*:", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|doorst|wg)\s*:", re.IGNORECASE)
_QUOTE_STYLE = "margin:0 0 0 0.8ex;border-left:2px solid #c8ced6;padding-left:1ex"


@dataclass
class Initial:
    """The starting values of the compose form."""

    mailbox: Mailbox
    kind: str = Kind.NEW
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    subject: str = ""
    body_html: str = ""
    reply_to: Message | None = None
    forward_of: Message | None = None


def reply_subject(subject: str) -> str:
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".strip()


def forward_subject(subject: str) -> str:
    return subject if _FORWARD_PREFIX.match(subject) else f"Fwd: {subject}".strip()


def signature_block(mailbox: Mailbox) -> str:
    """The mailbox's signature as a block of the body ("" without one)."""
    signature = get_template(mailbox).signature_html.strip()
    if not signature:
        return ""
    return f"<div>{sanitize_outgoing_html(signature)}</div>"


def with_signature(mailbox: Mailbox, body_html: str) -> str:
    """``body_html`` followed by the mailbox's signature (for the API and auto-replies)."""
    block = signature_block(mailbox)
    return f"{body_html}<br>{block}" if block else body_html


def _who(items: list[dict[str, str]]) -> str:
    return ", ".join(
        f"{i['name']} <{i['address']}>" if i.get("name") else i.get("address", "") for i in items
    )


def _when(message: Message) -> str:
    moment = message.date or message.received_at
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _original_body(message: Message) -> str:
    if message.html:
        return sanitize_html(message.html)
    return linebreaks(message.text or "")


def quoted(message: Message) -> str:
    """The original under a reply: "On <date> <sender> wrote:" and the quote."""
    intro = _("On %(date)s %(sender)s wrote:") % {
        "date": _when(message),
        "sender": _who(message.from_addresses[:1]) or _("someone"),
    }
    return (
        f"<div>{escape(intro)}</div>"
        f'<blockquote style="{_QUOTE_STYLE}">{_original_body(message)}</blockquote>'
    )


def forwarded(message: Message) -> str:
    """The original under a forward, with its header lines."""
    lines = [
        _("---------- Forwarded message ----------"),
        _("From: %(value)s") % {"value": _who(message.from_addresses)},
        _("Date: %(value)s") % {"value": _when(message)},
        _("Subject: %(value)s") % {"value": message.subject},
        _("To: %(value)s") % {"value": _who(message.to_addresses)},
    ]
    if message.cc_addresses:
        lines.append(_("Cc: %(value)s") % {"value": _who(message.cc_addresses)})
    head = "<br>".join(escape(line) for line in lines)
    return f"<div>{head}</div><br><div>{_original_body(message)}</div>"


def _without(items: list[dict[str, str]], *, drop: set[str]) -> list[Address]:
    out, seen = [], set(drop)
    for item in items:
        key = (item.get("address") or "").lower()
        if key and key not in seen:
            seen.add(key)
            out.append({"name": item.get("name") or "", "address": item["address"]})
    return out


def initial(mailbox: Mailbox, kind: str = Kind.NEW, original: Message | None = None) -> Initial:
    """Starting values for a new message (``original`` None) or a reply, reply-all
    or forward of ``original``, with the signature above the quote."""
    start = "<div><br></div>"
    signature = signature_block(mailbox)
    body = f"{start}{'<br>' + signature if signature else ''}"
    if original is None or kind == Kind.NEW:
        return Initial(mailbox, Kind.NEW, body_html=body)
    own = {mailbox.sender_address.lower()}
    if kind == Kind.FORWARD:
        return Initial(
            mailbox,
            kind,
            subject=forward_subject(original.subject),
            body_html=f"{body}<br>{forwarded(original)}",
            forward_of=original,
        )
    if original.folder == Folder.SENT:
        # Answering our own sent mail means writing to its recipients again.
        target = original.to_addresses
    else:
        target = original.reply_to_addresses or original.from_addresses
    to = _without(target, drop=own)
    cc: list[Address] = []
    if kind == Kind.REPLY_ALL:
        to = _without([*target, *original.to_addresses], drop=own)
        cc = _without(original.cc_addresses, drop=own | {a["address"].lower() for a in to})
    return Initial(
        mailbox,
        kind,
        to=to,
        cc=cc,
        subject=reply_subject(original.subject),
        body_html=f"{body}<br>{quoted(original)}",
        reply_to=original,
    )
