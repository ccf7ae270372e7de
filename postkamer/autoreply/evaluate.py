"""Judging newly fetched inbox mail for the automatic reply.

The path of one message: the fetch commits a batch; ``messages_stored`` fires
(``receivers.queue_evaluation``), which queues ``tasks.evaluate_task`` for inbox
mail that is not repaired, and the task calls :func:`evaluate_messages`. Every
message it judges gets exactly one :class:`ReplyDecision`: ``skipped`` with a
reason, or ``pending``, a composed reply, which is then handed to the sending
worker in a transaction of its own (``actions.do_hand_off``: ``queued`` and an
outgoing message, or neither).

Why it is safe with many workers: each message is decided in its own transaction
that (1) locks the mailbox's ``AutoReply`` row, so a reply switched off or changed
meanwhile is seen at once, (2) claims the sender's memory row with a conditional
INSERT or UPDATE (:func:`claim_sender`), and (3) inserts the decision, unique per
message. A second evaluation of the same message fails on (3) and its claim rolls
back with it; two messages of one sender judged at once meet at (2), where only
one claim succeeds. Handing off is a conditional UPDATE from ``pending`` to
``queued`` in the transaction that queues the message, so two workers handing
off one reply queue it once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from postkamer.autoreply import actions, compose
from postkamer.autoreply.models import AutoReply, Reason, ReplyDecision, ReplyMemory, State
from postkamer.mail import autoreply as rules
from postkamer.mail import mime
from postkamer.mailboxes.models import Mailbox
from postkamer.messages import rawstore
from postkamer.messages.models import Folder, Message

log = logging.getLogger(__name__)


def own_addresses(mailbox: Mailbox) -> list[str]:
    """The addresses that are this mailbox's own: its sender address and the login
    names that are addresses (a shared mailbox is often reached under both)."""
    found = []
    for value in (mailbox.sender_address, mailbox.imap_username, mailbox.smtp_username):
        value = (value or "").strip()
        if "@" in value and value.lower() not in (f.lower() for f in found):
            found.append(value)
    return found


def claim_sender(
    mailbox_id: int, sender: str, response: str, interval_days: int, now: dt.datetime
) -> bool:
    """Record that ``sender`` is answered with ``response`` now; return False when
    they were answered with it less than ``interval_days`` ago.

    One statement decides, so concurrent callers cannot both win: an INSERT that
    does nothing when the row exists, else an UPDATE only of a row older than the
    interval. On PostgreSQL the loser waits for the winner's row and then sees it;
    SQLite serialises writers. Call inside the transaction that records the reply.
    """
    qn = connection.ops.quote_name
    table = qn(ReplyMemory._meta.db_table)
    columns = ", ".join(qn(c) for c in ("mailbox_id", "sender", "response", "last_replied_at"))
    conflict = ", ".join(qn(c) for c in ("mailbox_id", "sender", "response"))
    with connection.cursor() as cursor:
        # Only the model's own quoted names are interpolated; values are parameters.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s) "  # noqa: S608
            f"ON CONFLICT ({conflict}) DO NOTHING",
            [mailbox_id, sender, response, connection.ops.adapt_datetimefield_value(now)],
        )
        if cursor.rowcount == 1:
            return True
    return bool(
        ReplyMemory.objects.filter(
            mailbox_id=mailbox_id,
            sender=sender,
            response=response,
            last_replied_at__lte=now - dt.timedelta(days=interval_days),
        ).update(last_replied_at=now)
    )


def _verdict(message: Message, own: list[str]) -> rules.Verdict:
    try:
        block = mime.header_block(rawstore.read(message.raw))
    except rawstore.RawMissing:
        log.warning("auto-reply: raw bytes of message %s are missing", message.pk)
        block = b""
    return rules.judge(block, own)


def _display_sender(message: Message) -> str:
    for item in message.from_addresses or ():
        if isinstance(item, dict) and item.get("address"):
            return str(item["address"])[:320]
    return ""


def _decide(mailbox: Mailbox, message: Message, verdict: rules.Verdict) -> ReplyDecision | None:
    """Record the decision for ``message`` in one transaction; None when the reply is
    no longer active (nothing recorded) or when another evaluation decided first."""
    try:
        with transaction.atomic():
            config = AutoReply.objects.select_for_update().filter(pk=mailbox.pk).first()
            now = timezone.now()
            if config is None or not config.is_active(now):
                return None
            decision = ReplyDecision(
                mailbox=mailbox,
                message=message,
                recipient=verdict.recipient or _display_sender(message),
                state=State.SKIPPED,
                response=config.response,
                decided_at=now,
            )
            if not config.covers(message.received_at):
                decision.reason = Reason.OUTSIDE_PERIOD
            elif not verdict.reply:
                decision.reason = verdict.reason
            elif not claim_sender(
                mailbox.pk, verdict.sender_key, config.response, config.interval_days, now
            ):
                decision.reason = Reason.RECENTLY_REPLIED
            else:
                decision.state = State.PENDING
                reply = compose.compose_reply(mailbox, config, message)
                decision.subject, decision.body_html = reply.subject, reply.body_html
            decision.save(force_insert=True)
            return decision
    except IntegrityError:
        # The decision of this message was stored by another evaluation meanwhile;
        # everything of ours (a claim included) rolled back.
        return None


def evaluate_messages(mailbox_id: int, message_ids: Iterable[int]) -> list[ReplyDecision]:
    """Judge the inbox messages ``message_ids`` of mailbox ``mailbox_id`` and record
    a decision for each one not judged before; return the new decisions.

    Each reply decided is handed to the sending worker at once; so is a reply of
    the mailbox still ``pending`` from an evaluation that died between deciding
    and handing off. Junk, sent and repaired messages are never judged. Nothing
    happens while the mailbox's automatic reply is off or outside its period.
    Safe to call twice and from several workers at once (see the module's
    opening comment).
    """
    config = AutoReply.objects.select_related("mailbox").filter(pk=mailbox_id).first()
    if config is None or not config.is_active(timezone.now()):
        return []
    mailbox = config.mailbox
    own = own_addresses(mailbox)
    ids = list(message_ids)
    decided = set(
        ReplyDecision.objects.filter(message_id__in=ids).values_list("message_id", flat=True)
    )
    candidates = (
        Message.objects.filter(
            mailbox_id=mailbox_id, pk__in=ids, folder=Folder.INBOX, repaired=False
        )
        .exclude(pk__in=decided)
        .select_related("raw")
        .order_by("received_at", "pk")
    )
    decisions = []
    for message in candidates:
        decision = _decide(mailbox, message, _verdict(message, own))
        if decision is None:
            continue
        if decision.state == State.PENDING:
            actions.do_hand_off(decision.pk)
            decision.refresh_from_db(fields=["state", "error_code", "outgoing"])
        decisions.append(decision)
    left = ReplyDecision.objects.filter(mailbox_id=mailbox_id, state=State.PENDING)
    for pk in left.order_by("decided_at", "pk").values_list("pk", flat=True):
        actions.do_hand_off(pk)
    return decisions
