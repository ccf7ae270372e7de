"""Hearing about newly fetched mail (``messages_stored``) and queueing its judgement,
and hearing from the sending worker how a reply ended (``sending.signals``)."""

from __future__ import annotations

from typing import Any

from postkamer.autoreply import actions
from postkamer.autoreply.models import AutoReply, ReplyDecision
from postkamer.messages.models import Folder
from postkamer.sending.models import OutgoingMessage

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


def _decision_ids(outgoing: OutgoingMessage) -> list[int]:
    if outgoing.kind != OutgoingMessage.Kind.AUTO_REPLY:
        return []
    return list(ReplyDecision.objects.filter(outgoing_id=outgoing.pk).values_list("pk", flat=True))


def record_sent(sender: Any, *, outgoing: OutgoingMessage, **kwargs: Any) -> None:
    """``sending.signals.outgoing_sent``: an automatic reply left."""
    for pk in _decision_ids(outgoing):
        actions.mark_sent(pk, outgoing.sent_at)


def record_failed(sender: Any, *, outgoing: OutgoingMessage, **kwargs: Any) -> None:
    """``sending.signals.outgoing_failed``: an automatic reply was refused or could
    not be delivered to a server. Recorded and logged once; it was queued with
    ``retry=False``, so nothing tries it again."""
    for pk in _decision_ids(outgoing):
        actions.mark_failed(pk, outgoing.error_code or "unknown")
