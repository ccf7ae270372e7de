"""Hearing about newly fetched mail (``messages_stored``) and queueing its judgement."""

from __future__ import annotations

from typing import Any

from postkamer.autoreply.models import AutoReply
from postkamer.messages.models import Folder

#: Above the interval fetches: a customer's answer should not wait for a queue of
#: routine polls.
EVALUATE_PRIORITY = 50


def queue_evaluation(
    sender: Any,
    *,
    mailbox_id: int,
    folder: str,
    message_ids: list[int],
    repaired: bool,
    **kwargs: Any,
) -> None:
    """Queue the judgement of newly stored inbox mail when the mailbox's automatic
    reply is switched on. Junk, sent and repaired mail never qualifies; the task
    checks the reply's period and state again when it runs."""
    if folder != Folder.INBOX or repaired or not message_ids:
        return
    if not AutoReply.objects.filter(pk=mailbox_id, enabled=True).exists():
        return
    from postkamer.autoreply import tasks

    tasks.evaluate_task.schedule(
        (mailbox_id, list(message_ids)), delay=0, priority=EVALUATE_PRIORITY
    )
