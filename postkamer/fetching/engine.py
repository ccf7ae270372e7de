"""The fetch engine: runs queued fetches and the schedule, by putting the parts
together. Each part has its own module:

- :mod:`~postkamer.fetching.queue`: asking for a fetch (one open run per mailbox);
- :mod:`~postkamer.fetching.lease`: the claim on a mailbox and the tenant's share;
- :mod:`~postkamer.fetching.pool`: kept-open IMAP connections;
- :mod:`~postkamer.fetching.sync`: syncing the folders, batch by batch;
- :mod:`~postkamer.fetching.reader`: the reader thread and SQLite checkpoints;
- :mod:`~postkamer.fetching.store`: committing a batch;
- :mod:`~postkamer.fetching.outcome`: recording success or failure on the mailbox;
- :mod:`~postkamer.fetching.problems`: error codes and their sentences.

Public entry points here: :func:`run_queued` runs one queued :class:`FetchRun`
(the Huey task and ``postkamer fetch``); :func:`dispatch_due` queues the mailboxes
whose interval has passed (the periodic task); :func:`fetch_mailbox` claims,
fetches and records one mailbox without a run. ``claim``/``renew``/``release``,
``pool`` and ``sync`` stay importable from here.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from postkamer.crypto import SecretUnreadable
from postkamer.fetching import problems, queue
from postkamer.fetching import push as push_status
from postkamer.fetching.lease import LEASE, LeaseLost, ShareFull, claim, release, renew
from postkamer.fetching.models import FetchRun
from postkamer.fetching.outcome import (
    FetchOutcome,
    do_record_fetch_failure,
    do_record_fetch_success,
)
from postkamer.fetching.pool import (
    POOL_IDLE_SECONDS,
    POOL_MAX,
    ConnectionPool,
    pool,
    pool_size,
    raise_file_limit,
)
from postkamer.fetching.sync import Progress, sync
from postkamer.mail import errors
from postkamer.mailboxes import oauth
from postkamer.mailboxes.models import Mailbox

__all__ = [
    "LEASE",
    "POOL_IDLE_SECONDS",
    "POOL_MAX",
    "ConnectionPool",
    "FetchOutcome",
    "LeaseLost",
    "Progress",
    "ShareFull",
    "claim",
    "dispatch_due",
    "fetch_mailbox",
    "pool",
    "pool_size",
    "raise_file_limit",
    "release",
    "renew",
    "run_queued",
    "sync",
]

log = logging.getLogger(__name__)


def _sync_claimed(
    mailbox: Mailbox, token: str, progress: Progress | None, *, inbox: bool = True
) -> FetchOutcome:
    """Sync the claimed mailbox; mail errors end up in the outcome. On anything
    else the lease is given back and the exception raised."""
    outcome = FetchOutcome()
    try:
        outcome.new_messages = sync(mailbox, token, progress, inbox=inbox)
    except (errors.MailError, SecretUnreadable, LeaseLost) as exc:
        log.info("fetch of mailbox %s failed: %s", mailbox.pk, exc)
        oauth.login_refused(mailbox, exc)
        outcome.error = exc
    except BaseException:
        release(mailbox.pk, token)
        raise
    return outcome


def _record(mailbox: Mailbox, outcome: FetchOutcome, token: str, *, scheduled: bool) -> None:
    if isinstance(outcome.error, LeaseLost):
        return  # the mailbox is someone else's now; its result is theirs to record
    if outcome.error is None:
        do_record_fetch_success(mailbox, release_token=token)
    else:
        do_record_fetch_failure(mailbox, outcome.error, scheduled=scheduled, release_token=token)


def fetch_mailbox(
    mailbox: Mailbox, progress: Progress | None = None, *, scheduled: bool = True
) -> FetchOutcome:
    """Claim ``mailbox``, fetch it and record the result on the mailbox (error count,
    last error, auto-disable, last fetch time); always releases the claim.

    Returns a :class:`FetchOutcome`; ``claimed`` is False when another fetch held
    the mailbox. Mail errors are recorded, not raised; ``scheduled`` says whether
    a failure counts toward ``max_errors``.
    """
    token = claim(mailbox.pk)
    if token is None:
        return FetchOutcome(claimed=False)
    outcome = _sync_claimed(mailbox, token, progress)
    _record(mailbox, outcome, token, scheduled=scheduled)
    return outcome


def _finish(
    run_id: int,
    *,
    ok: bool | None,
    code: str = "",
    params: problems.Params | None = None,
    new: int = 0,
) -> None:
    FetchRun.objects.filter(pk=run_id).update(
        finished_at=timezone.now(),
        ok=ok,
        new_messages=new,
        error_code=code,
        error_params=params or {},
    )


def _take(run: FetchRun, worker: int | None) -> tuple[bool, bool]:
    """Take the queued ``run`` with a conditional UPDATE; returns (taken, whether
    new mail had been announced for it). The announcement mark is cleared in the
    same UPDATE, so a mark set from now on means: run once more afterwards."""
    for _attempt in range(3):
        taken = FetchRun.objects.filter(
            pk=run.pk, started_at__isnull=True, finished_at__isnull=True, again=run.again
        ).update(started_at=timezone.now(), again=False, worker_id=worker)
        if taken:
            return True, run.again
        run.refresh_from_db(fields=["again", "started_at", "finished_at"])
        if run.started_at is not None or run.finished_at is not None:
            return False, False
    return False, False


def _announced_meanwhile(run_id: int, mailbox: Mailbox) -> None:
    """New mail announced while the run ran: ask for the next fetch. Read after the
    run is closed, so a later announcement opens a run of its own."""
    if FetchRun.objects.filter(pk=run_id, again=True).exists():
        queue.request_fetch(mailbox, trigger=FetchRun.Trigger.PUSH)


def run_queued(
    run_id: int,
    progress: Progress | None = None,
    *,
    share: int | None = None,
    worker: int | None = None,
) -> bool:
    """Run the queued fetch ``run_id`` and record it on the FetchRun; returns True
    on success (False on failure, when skipped or deferred, and when the run is
    unknown or was taken by someone else).

    The run is taken with a conditional UPDATE, so a run the worker and
    ``postkamer fetch`` both try is run once. With ``share``, a run whose tenant
    already runs ``share`` fetches goes back to the queue for a few seconds,
    leaving the worker thread to other offices. A run whose mailbox is being
    fetched by someone else ends with ``ok=None`` and code ``busy``: not an
    error, and not counted against the mailbox; when new mail was announced for
    it, it waits in the queue instead until that fetch is done.

    A scheduled run of a mailbox whose inbox a worker watches with IDLE reads
    only the junk and sent folders, unless new mail was announced for it.
    ``worker`` is the id of the worker process running it (``postkamer status``).
    """
    run = FetchRun.objects.select_related("mailbox").filter(pk=run_id).first()
    if run is None:
        return False
    started = timezone.now()
    taken, announced = _take(run, worker)
    if not taken:
        return False
    mailbox = run.mailbox
    try:
        token = claim(mailbox.pk, share=share, worker=worker)
    except ShareFull:
        _requeue(run, announced)
        log.info(
            "fetch run %s of mailbox %s waits: its office runs its share of fetches",
            run_id,
            mailbox.pk,
        )
        return False
    if token is None:
        if announced or run.trigger == FetchRun.Trigger.PUSH:
            # The other fetch may have read the inbox before the news: wait for it.
            _requeue(run, True)
            return False
        _finish(run_id, ok=None, code=problems.BUSY)
        _announced_meanwhile(run_id, mailbox)
        return False
    inbox = (
        announced
        or run.trigger != FetchRun.Trigger.INTERVAL
        or not push_status.is_watched(mailbox.pk)
    )
    try:
        outcome = _sync_claimed(mailbox, token, progress, inbox=inbox)
    except Exception:
        # Not the server's fault (e.g. a database error): the run must not stay
        # "running" forever, and Huey logs the traceback.
        _finish(run_id, ok=False, code=problems.INTERNAL_ERROR)
        raise
    code, params = outcome.problem
    with transaction.atomic():
        _finish(run_id, ok=outcome.ok, code=code, params=params, new=outcome.new_messages)
        _record(mailbox, outcome, token, scheduled=queue.counts_errors(run))
    _announced_meanwhile(run_id, mailbox)
    seconds = (timezone.now() - started).total_seconds()
    if outcome.ok:
        log.info(
            "fetched mailbox %s (run %s): %d new in %.1f s",
            mailbox.pk,
            run_id,
            outcome.new_messages,
            seconds,
        )
    else:
        log.info("fetch of mailbox %s (run %s) failed: %s", mailbox.pk, run_id, code)
    return outcome.ok


def _requeue(run: FetchRun, announced: bool) -> None:
    """Put the taken ``run`` back in the queue for a few seconds (keeping its
    new-mail mark)."""
    fields: dict[str, object] = {"started_at": None, "worker": None}
    if announced:
        fields["again"] = True
        run.again = True
    FetchRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(**fields)
    queue.schedule(run, delay=queue.DEFER_SECONDS)


def dispatch_due(now: dt.datetime | None = None) -> int:
    """Queue an interval fetch for every enabled mailbox whose ``next_fetch_at``
    has passed; returns how many were queued (a mailbox with an open run is
    counted but gets no second run).

    ``next_fetch_at`` moves forward with a conditional UPDATE first, so two
    dispatchers never queue the same mailbox twice: every worker process runs
    this every minute (Huey's periodic tasks run in each consumer), and for each
    due mailbox exactly one of them moves the moment on and queues; the others'
    UPDATE matches no row. A mailbox whose inbox a worker watches with IDLE and
    that has no junk or sent folder has nothing to poll: its moment moves on, but
    nothing is queued. Office 365 and Google mailboxes nobody has connected yet
    are left alone: they would only collect errors until switched off (one whose
    sign-in expired is fetched, and counts its errors).
    """
    now = now or timezone.now()
    # The dispatcher runs every minute in each worker process: a good moment to
    # let go of connections to mailboxes that are no longer polled.
    pool.prune()
    due = (
        Mailbox.objects.filter(interval_minutes__isnull=False, disabled_code="")
        .filter(Q(next_fetch_at__isnull=True) | Q(next_fetch_at__lte=now))
        .exclude(oauth.never_connected())
        .only("pk", "next_fetch_at", "interval_minutes", "junk_folder", "sent_folder")
    )
    due = list(due)
    watched = push_status.watched_ids([mailbox.pk for mailbox in due])
    queued = 0
    for mailbox in due:
        with transaction.atomic():
            moved = Mailbox.objects.filter(
                pk=mailbox.pk, next_fetch_at=mailbox.next_fetch_at
            ).update(next_fetch_at=now + dt.timedelta(minutes=mailbox.interval_minutes))
            idle_only = mailbox.pk in watched and not (mailbox.junk_folder or mailbox.sent_folder)
            if moved and not idle_only:
                queue.request_fetch(mailbox, trigger=FetchRun.Trigger.INTERVAL)
                queued += 1
    if queued:
        log.info("queued %d scheduled fetches", queued)
    return queued
