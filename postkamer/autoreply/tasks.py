"""Background task (Huey): judge newly fetched inbox mail for the automatic reply."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task()
def evaluate_task(mailbox_id: int, message_ids: list[int]) -> int:
    """Judge ``message_ids`` of mailbox ``mailbox_id``; returns how many decisions
    were recorded (a Huey result is only stored for a value)."""
    from postkamer.autoreply import evaluate

    return len(evaluate.evaluate_messages(mailbox_id, message_ids))
