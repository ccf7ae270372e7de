"""The worker's side of sending: claim a queued message, submit it over SMTP, store
the copy under Verzonden, APPEND it to the IMAP sent folder.

Order and why:

1. **Claim** with a conditional UPDATE setting ``lease_until``/``lease_token``
   (0 rows: someone else has it, or it is not due). A crashed worker's lease
   expires and the dispatcher hands the row to another worker.
2. **Submit** the bytes fixed at queue time. The moment the server accepts them,
   ``submitted_at`` is written, so a worker that dies later never submits again;
   it only finishes the steps below. (A crash between the server's 250 and that
   UPDATE is the one window in which a message can go out twice.)
   4xx answers, refused connections and time-outs are tried again at
   ``RETRY_AT_MINUTES`` after queueing, then the message fails; 5xx answers,
   wrong passwords and untrusted certificates fail at once.
3. **Store** the copy (with Bcc) as a ``Message`` in folder ``sent`` and mark the
   outgoing row sent, in one transaction: it is under Verzonden at once.
4. **APPEND** the copy with ``\\Seen`` to the mailbox's sent folder and write the
   APPENDUID (folder, UIDVALIDITY, UID) on that ``Message``, so the next fetch
   of the folder skips it by UID; servers without UIDPLUS are covered by the
   fetch's (Message-ID, SHA-256) check. A retried APPEND first looks for the
   Message-ID in the folder, so a crash after the APPEND does not add a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from postkamer.crypto import SecretUnreadable
from postkamer.fetching.store import store_own_message
from postkamer.mail import errors, imap, smtp
from postkamer.mail.outgoing import idna_address
from postkamer.mailboxes import oauth
from postkamer.mailboxes.connection import connect_options, imap_settings, smtp_settings
from postkamer.messages import rawstore
from postkamer.messages.models import Folder, Message
from postkamer.sending import signals
from postkamer.sending.models import OutgoingMessage

log = logging.getLogger(__name__)

State = OutgoingMessage.State
Append = OutgoingMessage.Append

#: How long a claim holds; longer than any single SMTP or IMAP exchange.
LEASE = dt.timedelta(minutes=15)
#: Minutes after queueing at which a temporarily refused message is tried again;
#: when the attempt at the last one fails too, the message has failed.
RETRY_AT_MINUTES = (1, 3, 8, 18, 30, 45, 60)
#: Minutes between tries of an APPEND that failed for a passing reason.
APPEND_RETRY_MINUTES = (1, 5, 15, 30, 60)
#: Never sooner than this after a failed attempt (e.g. after a worker outage).
MIN_GAP = dt.timedelta(seconds=30)


class LeaseLost(Exception):
    """Our claim ran out and another worker took the message over."""


def _due(now: dt.datetime) -> Q:
    return (
        Q(state=State.QUEUED, next_attempt_at__lte=now)
        | Q(state=State.SENDING)
        | Q(state=State.SENT, append_state=Append.PENDING, next_attempt_at__lte=now)
    ) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def claim(outgoing_id: int, now: dt.datetime | None = None) -> str | None:
    """Take the message's lease when it is due; return the token or None."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    taken = (
        OutgoingMessage.objects.filter(pk=outgoing_id)
        .filter(_due(now))
        .update(lease_until=now + LEASE, lease_token=token)
    )
    return token if taken else None


def _ours(row: OutgoingMessage, token: str) -> Any:
    return OutgoingMessage.objects.filter(pk=row.pk, lease_token=token)


def _release(row: OutgoingMessage, token: str) -> None:
    _ours(row, token).update(lease_until=None, lease_token="")


def run(outgoing_id: int, now: dt.datetime | None = None) -> str:
    """Do whatever the message still needs (submit, store, APPEND); return its
    state afterwards, or "skipped" when it was not due or someone else has it."""
    token = claim(outgoing_id, now)
    if token is None:
        return "skipped"
    row = OutgoingMessage.objects.select_related("mailbox").get(pk=outgoing_id)
    try:
        if row.state in (State.QUEUED, State.SENDING) and row.submitted_at is None:
            _submit(row, token, now)
        if row.submitted_at is not None and row.sent_message_id is None:
            _store_copy(row, token)
        if row.state == State.SENT and row.append_state == Append.PENDING:
            _append(row, token, now)
    finally:
        _release(row, token)
    return row.state


# -- submitting ----------------------------------------------------------------------


def _error_params(exc: errors.MailError) -> dict[str, Any]:
    refused = getattr(exc, "refused", None)
    if refused and getattr(exc, "stage", "") == "recipients":
        return {"recipients": {addr: code for addr, (code, _text) in refused.items()}}
    return {}


def _submit(row: OutgoingMessage, token: str, now: dt.datetime | None) -> None:
    _ours(row, token).update(state=State.SENDING, attempts=F("attempts") + 1)
    row.refresh_from_db(fields=["state", "attempts"])
    mailbox = row.mailbox
    sender = idna_address(mailbox.sender_address)
    try:
        recipients = [idna_address(a) for a in row.all_recipients()]
        result = smtp.submit(
            smtp_settings(mailbox),
            connect_options(),
            envelope_from="" if row.null_sender else sender,
            recipients=recipients,
            raw=rawstore.read(row.raw),
            fallback_from=sender if row.null_sender else None,
        )
    except errors.TemporaryFailure as exc:
        log.info("sending outgoing %s: attempt %s failed: %s", row.pk, row.attempts, exc.detail)
        _retry_or_fail(row, token, exc.code, _error_params(exc), now)
        return
    except errors.MailError as exc:
        log.info("sending outgoing %s failed: %s", row.pk, exc.detail)
        oauth.login_refused(mailbox, exc)
        _fail(row, token, exc.code, _error_params(exc))
        return
    except SecretUnreadable:
        _fail(row, token, "secret_unreadable", {})
        return
    fields = {
        "submitted_at": timezone.now(),
        "envelope_from": result.envelope_from,
        "refused": {addr: code for addr, (code, _text) in result.refused.items()},
    }
    if result.refused:
        log.info("outgoing %s: refused for %s", row.pk, result.refused)
    _ours(row, token).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)


def _fail(row: OutgoingMessage, token: str, code: str, params: dict[str, Any]) -> None:
    fields = {
        "state": State.FAILED,
        "error_code": code,
        "error_params": params,
        "next_attempt_at": None,
    }
    _ours(row, token).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)
    # The worker runs in autocommit: the UPDATE above is committed already.
    signals.outgoing_failed.send(OutgoingMessage, outgoing=row)


def next_attempt(row: OutgoingMessage, now: dt.datetime) -> dt.datetime | None:
    """When to try again after failed attempt number ``row.attempts``; None
    when the retries are used up."""
    if not row.retry or row.attempts > len(RETRY_AT_MINUTES) or row.queued_at is None:
        return None
    planned = row.queued_at + dt.timedelta(minutes=RETRY_AT_MINUTES[row.attempts - 1])
    return max(planned, now + MIN_GAP)


def _retry_or_fail(
    row: OutgoingMessage,
    token: str,
    code: str,
    params: dict[str, Any],
    now: dt.datetime | None,
) -> None:
    now = now or timezone.now()
    when = next_attempt(row, now)
    if when is None:
        _fail(row, token, code, {**params, "gave_up": row.retry})
        return
    fields = {
        "state": State.QUEUED,
        "error_code": code,
        "error_params": params,
        "next_attempt_at": when,
    }
    _ours(row, token).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)
    _schedule(row.pk, when)


def _schedule(outgoing_id: int, when: dt.datetime) -> None:
    """Ask Huey to run the retry on time; the periodic dispatcher catches it
    anyway when the queue lost it (a worker restart with an in-memory queue)."""
    from postkamer.sending import tasks

    delay = max(0.0, (when - timezone.now()).total_seconds())
    transaction.on_commit(
        lambda: tasks.send_task.schedule((outgoing_id,), delay=delay, priority=tasks.SEND_PRIORITY)
    )


# -- storing and appending -----------------------------------------------------------


def _store_copy(row: OutgoingMessage, token: str) -> None:
    mailbox = row.mailbox
    copy = rawstore.read(row.copy_raw)
    append = Append.PENDING if mailbox.sent_folder else Append.NONE
    with rawstore.session() as writer, transaction.atomic():
        message = store_own_message(
            writer, mailbox.pk, Folder.SENT, copy, received_at=row.submitted_at
        )
        fields = {
            "state": State.SENT,
            "sent_at": row.submitted_at,
            "sent_message": message,
            "append_state": append,
            "next_attempt_at": timezone.now() if append == Append.PENDING else None,
            "error_code": "",
        }
        if not _ours(row, token).filter(sent_message__isnull=True).update(**fields):
            # Our lease ran out and another worker finished the job: keep its copy.
            raise LeaseLost(row.pk)
    for name, value in fields.items():
        setattr(row, name, value)
    signals.outgoing_sent.send(OutgoingMessage, outgoing=row)


def _record_server_copy(row: OutgoingMessage, appended: imap.Appended) -> None:
    if appended.uid is None or appended.uidvalidity is None:
        return  # no UIDPLUS: the fetch's (Message-ID, SHA-256) check covers it
    try:
        with transaction.atomic():
            Message.objects.filter(pk=row.sent_message_id).update(
                server_folder=appended.folder,
                uidvalidity=appended.uidvalidity,
                uid=appended.uid,
            )
    except IntegrityError:
        # A fetch stored the server's copy under this UID meanwhile.
        log.warning("outgoing %s: UID %s was stored by a fetch already", row.pk, appended.uid)


def _append_once(row: OutgoingMessage) -> imap.Appended:
    mailbox = row.mailbox
    folder = mailbox.sent_folder
    conn = imap.connect(imap_settings(mailbox), connect_options())
    try:
        if row.append_attempts > 1:
            # An earlier try may have reached the server before it failed or died.
            found = imap.uids_with_message_id(conn, folder, row.message_id)
            if found:
                status = conn.folder_status(folder, [b"UIDVALIDITY"])
                return imap.Appended(folder, int(status[b"UIDVALIDITY"]), found[-1])
        return imap.append(
            conn, folder, rawstore.read(row.copy_raw), flags=("\\Seen",), msg_time=row.sent_at
        )
    finally:
        try:
            conn.logout()
        except Exception:  # the APPEND's outcome is what counts
            with contextlib.suppress(Exception):
                conn.shutdown()


def _append(row: OutgoingMessage, token: str, now: dt.datetime | None) -> None:
    _ours(row, token).update(append_attempts=F("append_attempts") + 1)
    row.refresh_from_db(fields=["append_attempts", "error_params"])
    try:
        appended = _append_once(row)
    except (errors.MailError, SecretUnreadable) as exc:
        code = getattr(exc, "code", "secret_unreadable")
        log.info("outgoing %s: APPEND to the sent folder failed: %s", row.pk, exc)
        oauth.login_refused(row.mailbox, exc)
        params = {**row.error_params, "append_error": code}
        n = row.append_attempts
        if isinstance(exc, errors.TemporaryFailure) and n <= len(APPEND_RETRY_MINUTES):
            when = (now or timezone.now()) + dt.timedelta(minutes=APPEND_RETRY_MINUTES[n - 1])
            _ours(row, token).update(error_params=params, next_attempt_at=when)
            _schedule(row.pk, when)
        else:
            _ours(row, token).update(
                error_params=params, append_state=Append.FAILED, next_attempt_at=None
            )
            row.append_state = Append.FAILED
        return
    _record_server_copy(row, appended)
    _ours(row, token).update(append_state=Append.DONE, next_attempt_at=None)
    row.append_state = Append.DONE


# -- due work ------------------------------------------------------------------------


def dispatch_due(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Queue a send task for every message whose retry is due or whose worker
    died (its lease ran out); returns how many. The task's claim decides."""
    from postkamer.sending import tasks

    now = now or timezone.now()
    ids = list(
        OutgoingMessage.objects.filter(_due(now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        tasks.send_task.schedule((pk,), delay=0, priority=tasks.SEND_PRIORITY)
    if ids:
        log.info("queued %d due send(s)", len(ids))
    return len(ids)
