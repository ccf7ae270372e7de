"""Conversations: which stored messages belong together.

Two keys are stored with every message (``Message.thread_key``/``subject_key``) so
that finding a conversation is two indexed equality lookups in one mailbox, never a
scan of References text:

- ``thread_key``: the first Message-ID of References (the conversation's root), else
  In-Reply-To, else the message's own Message-ID. A reply that carries References
  lands with its root; the root itself carries its own ID.
- ``subject_key``: the subject without reply/forward prefixes (Re:, Fw:, Fwd:, Antw:,
  Doorst:, also repeated and with counters like ``Re[2]:``), lower-cased, for mail
  whose client sent no such headers.

A message's conversation is the messages sharing its ``thread_key``; when that finds
nothing else, those sharing its ``subject_key`` (the fallback).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db.models import QuerySet

from postkamer.messages.models import Message

MAX_KEY = 255
THREAD_LIMIT = 50

_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|antw|antwoord|doorst|tr|sv|vs)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)
_SPACE_RE = re.compile(r"\s+")


def subject_key(subject: str) -> str:
    """The subject without reply/forward prefixes, lower-cased, spaces collapsed."""
    previous = None
    text = subject or ""
    # "Re: [Fwd: Antw: x]"-style nesting gives up after a few rounds.
    for _ in range(5):
        if text == previous:
            break
        previous = text
        text = _PREFIX_RE.sub("", text)
    return _SPACE_RE.sub(" ", text).strip().lower()[:MAX_KEY]


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


def thread_key(message_id: str | None, in_reply_to: str | None, references: Sequence[str]) -> str:
    """The conversation's root Message-ID as far as this message knows it."""
    for candidate in (*references[:1], in_reply_to or "", message_id or ""):
        bare = _bare(candidate)
        if bare:
            return bare[:MAX_KEY]
    return ""


def conversation(message: Message, limit: int = THREAD_LIMIT) -> QuerySet[Message]:
    """The other messages of ``message``'s conversation in its mailbox, newest first."""
    others = Message.objects.filter(mailbox_id=message.mailbox_id).exclude(pk=message.pk)
    columns = ("pk", "subject", "from_addresses", "date", "received_at", "folder")
    by_thread = others.none()
    if message.thread_key:
        # Replies that name this message only in In-Reply-To (no References) have
        # this message's own ID as their key; the root's key is its own ID too.
        keys = {message.thread_key, _bare(message.message_id)} - {""}
        by_thread = others.filter(thread_key__in=keys)
    found = by_thread.only(*columns).order_by("-received_at", "-pk")[:limit]
    if found or not message.subject_key:
        return found
    return (
        others.filter(subject_key=message.subject_key)
        .only(*columns)
        .order_by("-received_at", "-pk")[:limit]
    )
