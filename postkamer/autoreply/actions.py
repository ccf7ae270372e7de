"""Changing the automatic reply, and moving a decided reply through its states.

The web tab, the API and the worker all come here, so each rule lives once:
:func:`settings_errors` (what may be saved), :func:`do_save_auto_reply` (saving,
with its audit entry), :func:`do_hand_off` (a decided reply to the sending
worker), and the ``mark_*`` functions for a reply on its way out.

A reply's way: ``pending`` (decided, composed) -> ``queued`` (an
``OutgoingMessage`` of kind ``auto_reply`` exists; both happen in one
transaction) -> ``sent`` or ``failed``, as the sending worker reports through
``sending.signals`` (``receivers.py``). Switching the reply off turns every
reply that has not reached the SMTP conversation into ``skipped``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from postkamer.accounts.models import User
from postkamer.autoreply.compose import one_line, queue_arguments
from postkamer.autoreply.models import (
    DEFAULT_INTERVAL_DAYS,
    MAX_INTERVAL_DAYS,
    MIN_INTERVAL_DAYS,
    AutoReply,
    Reason,
    ReplyDecision,
    State,
    default_subject,
)
from postkamer.mail.html import html_to_text, sanitize_html
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import AuditAction, Mailbox
from postkamer.sending import actions as sending
from postkamer.sending.models import OutgoingMessage

#: The settings, by their API names.
FIELDS = ("enabled", "starts_at", "ends_at", "subject", "body_html", "interval_days")

#: Why the sending app refused to build a reply (a field of its ValidationError ->
#: our error code): the recipient passed the reply rules but not the stricter
#: address check, or the mailbox's own sender address or display name is unusable.
INVALID_RECIPIENT = "invalid_recipient"
INVALID_SENDER = "invalid_sender"
INVALID_REPLY = "invalid_reply"
BUILD_ERRORS = (INVALID_RECIPIENT, INVALID_SENDER, INVALID_REPLY)


def current(mailbox: Mailbox) -> AutoReply:
    """The mailbox's automatic reply; an unsaved one with the defaults (off, seven
    days, the default subject) when it never had one."""
    found = AutoReply.objects.filter(pk=mailbox.pk).first()
    if found is not None:
        return found
    return AutoReply(
        mailbox=mailbox,
        enabled=False,
        subject=default_subject(),
        interval_days=DEFAULT_INTERVAL_DAYS,
    )


def clean_body(html: str) -> str:
    """The body as it is stored and sent: sanitised like every other HTML."""
    return sanitize_html(html or "").strip()


def _moment(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "d-m-Y H:i")


def settings_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Return API field name -> messages for the settings ``values`` would give.

    ``values`` holds every field of :data:`FIELDS` as it would be saved; a value
    that could not be read at all is None (its own error is reported elsewhere).
    Every message names its field, so a list of them reads on its own.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        add(
            "ends_at",
            _("End: choose a moment after the start (%(start)s).") % {"start": _moment(starts)},
        )
    interval = values.get("interval_days")
    if interval is not None:
        if interval < MIN_INTERVAL_DAYS:
            add(
                "interval_days", _("Days between two replies to the same sender: enter at least 1.")
            )
        elif interval > MAX_INTERVAL_DAYS:
            add(
                "interval_days",
                _("Days between two replies to the same sender: enter at most %(max)d.")
                % {"max": MAX_INTERVAL_DAYS},
            )
    if values.get("enabled"):
        if not html_to_text(clean_body(values.get("body_html") or "")).strip():
            add(
                "body_html",
                _("Text: write the reply senders receive, or switch the automatic reply off."),
            )
        if not one_line(values.get("subject") or ""):
            add("subject", _("Subject: enter a subject, or switch the automatic reply off."))
    return errors


def merged(config: AutoReply, changes: dict[str, Any]) -> dict[str, Any]:
    """The settings after ``changes``: given fields replace, the others stay."""
    return {field: changes.get(field, getattr(config, field)) for field in FIELDS}


def do_save_auto_reply(mailbox: Mailbox, actor: User | None, changes: dict[str, Any]) -> AutoReply:
    """Save ``changes`` (fields of :data:`FIELDS`, checked with
    :func:`settings_errors`) to the mailbox's automatic reply and log them.

    The body is sanitised, a new text gets a new response id (so senders may get
    the new text once), switching on starts the period in which arriving mail is
    answered, and switching off stops replies at once: replies decided but not yet
    handed to the sending worker are cancelled. Returns the saved reply.
    """
    with transaction.atomic():
        config = AutoReply.objects.select_for_update().filter(pk=mailbox.pk).first()
        created = config is None
        if config is None:
            config = current(mailbox)
        before = {field: getattr(config, field) for field in FIELDS}
        for field in FIELDS:
            if field in changes:
                setattr(config, field, changes[field])
        config.subject = one_line(config.subject or "")
        config.body_html = clean_body(config.body_html)
        config.response = AutoReply.response_of(config.subject, config.body_html)
        if config.enabled and not before["enabled"]:
            config.active_since = timezone.now()
        config.save()
        if before["enabled"] and not config.enabled:
            _cancel_unsent(mailbox)
        changed = [field for field in FIELDS if before[field] != getattr(config, field)]
        if changed or created:
            audit.record(
                mailbox,
                actor,
                AuditAction.AUTO_REPLY_CHANGED,
                fields=changed,
                enabled=config.enabled,
            )
    return config


def _cancel_unsent(mailbox: Mailbox) -> None:
    """Stop every reply of ``mailbox`` that has not reached a mail server: decided
    ones, and queued ones no worker has taken yet (taken back from the sending
    app and deleted). A reply whose worker already holds it is in the middle of
    the SMTP conversation; it cannot be called back and is recorded as it ends.
    Call with the mailbox's ``AutoReply`` row locked (``do_hand_off`` waits for it).
    """
    ReplyDecision.objects.filter(mailbox=mailbox, state=State.PENDING).update(
        state=State.SKIPPED, reason=Reason.SWITCHED_OFF
    )
    queued = ReplyDecision.objects.filter(mailbox=mailbox, state=State.QUEUED).select_related(
        "outgoing"
    )
    for decision in queued:
        outgoing = decision.outgoing
        if outgoing is not None:
            if not sending.do_cancel(outgoing):
                continue  # a worker has it: it goes out (or fails) and is recorded
            sending.do_delete_draft(outgoing)
        ReplyDecision.objects.filter(pk=decision.pk, state=State.QUEUED).update(
            state=State.SKIPPED, reason=Reason.SWITCHED_OFF, outgoing=None
        )


def _build_error(exc: ValidationError) -> str:
    fields = set(getattr(exc, "error_dict", {}))
    if fields & {"to", "cc", "bcc"}:
        return INVALID_RECIPIENT
    if "__all__" in fields:
        return INVALID_SENDER
    return INVALID_REPLY


def do_hand_off(decision_id: int) -> OutgoingMessage | None:
    """Hand the ``pending`` reply ``decision_id`` to the sending worker: mark it
    queued and queue its message (``sending.actions.do_queue_message``) in one
    transaction, so a crash leaves it either pending or queued once, never queued
    twice. Returns the outgoing message; None when the reply is no longer pending
    (another worker handed it off, or it was cancelled) or the sending app
    refused to build it (then it is ``failed`` with a code of :data:`BUILD_ERRORS`,
    logged once).

    The worker sends it once this transaction commits; it reports back through
    ``sending.signals`` (``receivers.record_sent`` / ``record_failed``).
    """
    with transaction.atomic():
        decision = (
            ReplyDecision.objects.select_related("mailbox", "message")
            .filter(pk=decision_id, state=State.PENDING)
            .first()
        )
        if decision is None:
            return None
        # Taken in the same order as do_save_auto_reply: switching off either
        # happens first (the reply is no longer pending below) or waits and then
        # finds the queued message to take back.
        AutoReply.objects.select_for_update().filter(pk=decision.mailbox_id).first()
        if not mark_queued(decision.pk):
            return None
        try:
            with transaction.atomic():
                outgoing = sending.do_queue_message(decision.mailbox, **queue_arguments(decision))
        except ValidationError as exc:
            mark_failed(decision.pk, _build_error(exc))
            return None
        ReplyDecision.objects.filter(pk=decision.pk).update(outgoing=outgoing)
    return outgoing


def mark_queued(decision_id: int) -> bool:
    """Take a ``pending`` reply for sending; False when it is no longer pending
    (sent by another worker, or cancelled because the reply was switched off).
    Call in the transaction that hands the reply to the sending worker."""
    return bool(
        ReplyDecision.objects.filter(pk=decision_id, state=State.PENDING).update(state=State.QUEUED)
    )


def mark_sent(decision_id: int, when: dt.datetime | None = None) -> None:
    """Record that the reply left (the sending worker reports it). Whatever state
    it was in: a mail server has it, so the customer gets it."""
    ReplyDecision.objects.filter(pk=decision_id).update(
        state=State.SENT, sent_at=when or timezone.now(), error_code=""
    )


def mark_failed(decision_id: int, error_code: str) -> bool:
    """Record that sending the reply failed, once, and write it to the mailbox's
    log; an automatic reply is never retried. Returns False when it was already
    recorded as failed."""
    with transaction.atomic():
        failed = (
            ReplyDecision.objects.filter(pk=decision_id)
            .exclude(state=State.FAILED)
            .update(state=State.FAILED, error_code=error_code[:60])
        )
        if not failed:
            return False
        decision = ReplyDecision.objects.select_related("mailbox").get(pk=decision_id)
        audit.record(
            decision.mailbox,
            None,
            AuditAction.AUTO_REPLY_FAILED,
            to=decision.recipient,
            message=decision.message_id,
            error=decision.error_code,
        )
    return True
