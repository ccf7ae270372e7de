"""Background tasks (Huey): sending one message, and the dispatcher of due retries."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

#: Huey runs higher numbers first: a person waiting for "verzonden" beats fetching.
SEND_PRIORITY = 200


@db_task()
def send_task(outgoing_id: int) -> str:
    """Send (or finish sending) outgoing message ``outgoing_id``; returns its state."""
    from postkamer.sending import engine

    return engine.run(outgoing_id)


@db_periodic_task(crontab(minute="*"))
def dispatch_due_sends() -> int:
    """Queue the sends whose retry is due or whose worker died; returns how many."""
    from postkamer.sending import engine

    return engine.dispatch_due()
