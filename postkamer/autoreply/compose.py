"""The content of an automatic reply, built in one place.

:func:`compose_reply` makes the subject and body when the reply is decided;
:func:`queue_arguments` turns a decided reply into the keyword arguments of the
product's one way to send mail (``postkamer.sending.actions.do_queue_message``).
That function builds ``In-Reply-To`` and ``References`` from the original
(``reply_to``; left out when it has no Message-ID), stores the sent copy under
Verzonden, and applies the mailbox template's font.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from postkamer.autoreply.models import ORIGINAL_SUBJECT, AutoReply
from postkamer.sending.compose import with_signature
from postkamer.sending.models import OutgoingMessage

if TYPE_CHECKING:
    from postkamer.autoreply.models import ReplyDecision
    from postkamer.mailboxes.models import Mailbox
    from postkamer.messages.models import Message

#: Subjects longer than this are cut (a hostile original cannot make ours huge).
MAX_SUBJECT = 300
#: Headers of every automatic reply. Auto-Submitted tells receivers (and their own
#: responders) that this answers a message automatically (RFC 3834 §5, RFC 5230
#: §5); X-Auto-Response-Suppress asks Exchange not to answer it with its own
#: out-of-office ([MS-OXCMAIL] 2.2.3.2.20), which stops the classic ping-pong.
REPLY_HEADERS = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))
#: The kind of outgoing message, as the sending app records it.
KIND = OutgoingMessage.Kind.AUTO_REPLY

_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    subject: str
    body_html: str


def one_line(text: str) -> str:
    """``text`` as one header-safe line: no control characters, line breaks or runs
    of spaces (a subject from outside must not add header lines)."""
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()


def reply_subject(template: str, original_subject: str) -> str:
    """The reply's subject: ``template`` with ``{original subject}`` replaced by the
    subject of the message answered (RFC 3834 §3.1 asks for the original's
    subject after a short mark that this is an automatic reply)."""
    subject = one_line(template.replace(ORIGINAL_SUBJECT, one_line(original_subject)))
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


def reply_body(mailbox: Mailbox, body_html: str) -> str:
    """The body a sender receives: the mailbox's text as stored (already sanitised)
    with the mailbox's signature under it, as under any other mail of the office."""
    return with_signature(mailbox, body_html)


def compose_reply(mailbox: Mailbox, config: AutoReply, original: Message) -> Reply:
    """The subject and body the sender of ``original`` receives; the original's
    attachments are never copied. The signature is not part of the response id:
    changing it does not make senders who got the reply get it again."""
    return Reply(
        reply_subject(config.subject, original.subject or ""),
        reply_body(mailbox, config.body_html),
    )


def queue_arguments(decision: ReplyDecision) -> dict[str, Any]:
    """The keyword arguments for ``do_queue_message(decision.mailbox, **...)``.

    To the original's envelope sender only (RFC 3834 §4, RFC 5230 §4.2), with a
    null envelope sender where the submission server takes one (RFC 3834 §3.3),
    threaded to the original, no attachments, and no retries: a failure is
    recorded once, it never turns into a storm of attempts.
    """
    return {
        "author": None,
        # A (name, address) pair: taken as it is, never split at commas.
        "to": [("", decision.recipient)],
        "cc": (),
        "bcc": (),
        "subject": decision.subject,
        "body_html": decision.body_html,
        "reply_to": decision.message,
        "kind": KIND,
        "attachments": (),
        "extra_headers": list(REPLY_HEADERS),
        "null_sender": True,
        "retry": False,
    }
