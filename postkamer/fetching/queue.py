"""Asking for a fetch: the one entry point for the fetch button, the API, the
schedule, repair synchronisation and the ``postkamer fetch`` command.

A mailbox has at most one open run (queued or running): asking again while one is
open returns that run, so 300 presses of the button queue one fetch, and the
command line waits for the run the worker already has. A database constraint
keeps it so across processes. An open run whose worker is gone (queued far too
long, running in a worker process that is no longer live, or running without a
lease on its mailbox) is closed as ``abandoned`` when someone asks again, so a
lost task never blocks the mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from postkamer.accounts.models import User
from postkamer.fetching import lease, problems
from postkamer.fetching.models import FetchRun, Worker
from postkamer.mailboxes.models import Mailbox

log = logging.getLogger(__name__)

# Huey runs higher numbers first: a person waiting beats new mail the server
# announced, which beats the periodic schedule.
BUTTON_PRIORITY = 100
PUSH_PRIORITY = 50
INTERVAL_PRIORITY = 0

#: A queued run that has not started after this long lost its task.
STALE_QUEUED = dt.timedelta(minutes=30)
#: A run that started this long ago and whose mailbox has no lease lost its worker.
STALE_RUNNING = dt.timedelta(minutes=1)
#: How long a run waits when its office already runs its share of fetches.
DEFER_SECONDS = 3


def priority(run: FetchRun) -> int:
    """The Huey priority of ``run``'s task."""
    if run.trigger == FetchRun.Trigger.INTERVAL:
        return PUSH_PRIORITY if run.again else INTERVAL_PRIORITY
    if run.trigger == FetchRun.Trigger.PUSH:
        return PUSH_PRIORITY
    return BUTTON_PRIORITY


def counts_errors(run: FetchRun) -> bool:
    """Whether a failure of ``run`` counts toward switching the mailbox off: the
    automatic ones do (the schedule, and new mail the server announced, so a
    mailbox whose fetches keep failing is switched off however they were asked
    for); a person pressing the button or running the command does not."""
    return run.trigger in (FetchRun.Trigger.INTERVAL, FetchRun.Trigger.PUSH)


def is_stale(run: FetchRun, now: dt.datetime | None = None) -> bool:
    """Return True when open ``run`` will never finish by itself (see the module
    docstring)."""
    now = now or timezone.now()
    if run.finished_at is not None:
        return False
    if run.started_at is None:
        return run.queued_at < now - STALE_QUEUED
    if run.worker_id is not None and not Worker.objects.live(now).filter(pk=run.worker_id).exists():
        return True  # its worker process stopped or died
    return run.started_at < now - STALE_RUNNING and not lease.holds(run.mailbox_id)


def abandon(run: FetchRun) -> bool:
    """Close open ``run`` as abandoned; returns False when it had finished meanwhile."""
    return bool(
        FetchRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(
            finished_at=timezone.now(), ok=False, error_code=problems.ABANDONED, error_params={}
        )
    )


def open_run(mailbox: Mailbox) -> FetchRun | None:
    """The queued or running run of ``mailbox``, or None."""
    return FetchRun.objects.filter(mailbox=mailbox, finished_at__isnull=True).first()


def request_fetch(
    mailbox: Mailbox,
    *,
    user: User | None = None,
    trigger: str = FetchRun.Trigger.BUTTON,
    enqueue: bool = True,
) -> FetchRun:
    """Return the open run of ``mailbox``, or record a new queued run and (with
    ``enqueue``) hand it to the worker once the transaction commits.

    The UI and the API poll the returned run to show when the fetch finished and
    what it found. ``enqueue=False`` is for a caller that runs it itself
    (``postkamer fetch``).
    """
    for _attempt in range(5):
        current = open_run(mailbox)
        if current is not None:
            if not is_stale(current):
                if trigger == FetchRun.Trigger.PUSH and not _mark_again(current):
                    continue  # it finished just now: open a new one
                return current
            if abandon(current):
                log.warning("fetch run %s of mailbox %s was abandoned", current.pk, mailbox.pk)
            continue
        try:
            # A savepoint: losing the race to another request must not spoil the
            # caller's transaction.
            with transaction.atomic():
                run = FetchRun.objects.create(mailbox=mailbox, trigger=trigger, requested_by=user)
        except IntegrityError:
            continue  # someone else opened a run just now; the next look finds it
        if enqueue:
            transaction.on_commit(lambda new=run: schedule(new))
        return run
    raise RuntimeError(f"could not open a fetch run for mailbox {mailbox.pk}")


def _mark_again(run: FetchRun) -> bool:
    """New mail while ``run`` is open: mark it, so it reads the inbox (and runs
    once more if it had started); False when it finished meanwhile. The run's own
    last step reads the mark after closing the run, so no news falls in between."""
    if run.again:
        return True
    marked = FetchRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(again=True)
    run.again = bool(marked)
    return bool(marked)


def schedule(run: FetchRun, delay: float = 0) -> None:
    """Hand ``run`` to the worker (after ``delay`` seconds)."""
    from postkamer.fetching import tasks

    tasks.fetch_task.schedule((run.pk,), delay=delay, priority=priority(run))
