"""Background tasks (Huey): the periodic dispatcher and the fetch itself."""

from __future__ import annotations

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def fetch_task(run_id: int) -> bool:
    """Run the queued fetch ``run_id`` within its office's share of the workers;
    returns True on success."""
    from postkamer.fetching import engine, push

    return engine.run_queued(
        run_id, share=settings.POSTKAMER_TENANT_FETCHES, worker=push.current_worker()
    )


@db_periodic_task(crontab(minute="*"))
def dispatch_due_fetches() -> int:
    """Queue a fetch for every mailbox whose interval has passed; returns how many."""
    from postkamer.fetching import engine

    return engine.dispatch_due()
