"""Background tasks (Huey) of stored messages: building the PostgreSQL search index
after the fetch (see ``messages/search.py``)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

log = logging.getLogger(__name__)

#: As low as the interval fetches: new mail is found by search before it is indexed
#: (more slowly), so the index never holds up a fetch.
INDEX_PRIORITY = 0


def _index() -> int:
    from postkamer.messages import search

    done = search.index_pending()
    if done:
        log.info("indexed %d messages for search", done)
    return done


@db_task()
def index_search_task() -> int:
    """Index every stored message that has no search vector yet; returns how many."""
    return _index()


@db_periodic_task(crontab(minute="*"))
def index_search_sweep() -> int:
    """Every minute: index what no queued task did (mail stored by sending, a task
    lost with its worker); returns how many."""
    return _index()


def queue_index(sender: Any, **kwargs: Any) -> None:
    """``messages_stored`` receiver: queue the indexing of a committed batch
    (PostgreSQL only; SQLite indexes in the same statement)."""
    if connection.vendor != "postgresql":
        return
    index_search_task.schedule(delay=0, priority=INDEX_PRIORITY)
