"""Background tasks (Huey): the periodic dispatcher and the fetch itself."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def fetch_task(run_id: int) -> bool:
    """Run the queued fetch ``run_id``; returns True on success."""
    from postkamer.fetching import engine

    return engine.run_queued(run_id)


@db_periodic_task(crontab(minute="*"))
def dispatch_due_fetches() -> int:
    """Queue a fetch for every mailbox whose interval has passed; returns how many."""
    from postkamer.fetching import engine

    return engine.dispatch_due()
