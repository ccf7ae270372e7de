"""Asking for a fetch: the one entry point for the fetch button, the API and the CLI."""

from __future__ import annotations

from django.db import transaction

from postkamer.accounts.models import User
from postkamer.fetching.models import FetchRun
from postkamer.mailboxes.models import Mailbox

# Huey runs higher numbers first: a person waiting beats the periodic schedule.
BUTTON_PRIORITY = 100
INTERVAL_PRIORITY = 0


def request_fetch(
    mailbox: Mailbox, *, user: User | None = None, trigger: str = FetchRun.Trigger.BUTTON
) -> FetchRun:
    """Record a queued fetch of ``mailbox`` and enqueue it once the transaction commits.

    Returns the FetchRun, which the UI polls to show when the fetch finished and
    what it found.
    """
    from postkamer.fetching import tasks

    run = FetchRun.objects.create(mailbox=mailbox, trigger=trigger, requested_by=user)
    priority = BUTTON_PRIORITY if trigger == FetchRun.Trigger.BUTTON else INTERVAL_PRIORITY
    transaction.on_commit(lambda: tasks.fetch_task.schedule((run.pk,), delay=0, priority=priority))
    return run
