"""Read and unread, per person (a colleague's reading changes nothing for you).

One function per change (``do_mark_read``, ``do_mark_unread``), called by the
message page, the "markeer als ongelezen" button and the API alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count

from postkamer.accounts.models import User
from postkamer.messages.models import Folder, Message, MessageRead


def do_mark_read(user: User, message: Message) -> bool:
    """Mark ``message`` read for ``user``; True when it was unread before."""
    try:
        with transaction.atomic():
            _, created = MessageRead.objects.get_or_create(
                user=user,
                message=message,
                defaults={"mailbox_id": message.mailbox_id, "folder": message.folder},
            )
    except IntegrityError:
        # Two tabs opened the message at once: the other one wrote the row.
        return False
    return created


def do_mark_unread(user: User, message: Message) -> bool:
    """Mark ``message`` unread for ``user``; True when it was read before."""
    deleted, _ = MessageRead.objects.filter(user=user, message=message).delete()
    return bool(deleted)


def is_read(user: User, message: Message) -> bool:
    return MessageRead.objects.filter(user=user, message=message).exists()


def flag_read(user: User, messages: Iterable[Message]) -> list[Message]:
    """The messages of one page with ``is_read`` set for ``user``, in one query.

    Asked for the page's IDs after the page is chosen: an EXISTS in the list query
    made PostgreSQL hash every read of the user for every page (bench_reading.py).
    """
    items = list(messages)
    if not items:
        return items
    read = set(
        MessageRead.objects.filter(user=user, message_id__in=[m.pk for m in items]).values_list(
            "message_id", flat=True
        )
    )
    for message in items:
        message.is_read = message.pk in read
    return items


@dataclass(frozen=True)
class InboxCount:
    total: int
    unread: int


def inbox_counts(user: User, mailbox_ids: Iterable[int]) -> dict[int, InboxCount]:
    """{mailbox id: its inbox's messages and those unread by ``user``}, in two queries
    whatever the number of mailboxes: the inbox totals minus the user's reads there
    (see :class:`MessageRead` for why not an anti-join)."""
    ids = list(mailbox_ids)
    if not ids:
        return {}
    # COUNT(*), not COUNT(id): PostgreSQL can then count from the index alone.
    totals = dict(
        Message.objects.filter(mailbox_id__in=ids, folder=Folder.INBOX)
        .values("mailbox_id")
        .annotate(n=Count("*"))
        .values_list("mailbox_id", "n")
        .order_by()
    )
    reads = dict(
        MessageRead.objects.filter(user=user, mailbox_id__in=ids, folder=Folder.INBOX)
        .values("mailbox_id")
        .annotate(n=Count("*"))
        .values_list("mailbox_id", "n")
        .order_by()
    )
    return {
        pk: InboxCount(totals.get(pk, 0), max(totals.get(pk, 0) - reads.get(pk, 0), 0))
        for pk in ids
    }
