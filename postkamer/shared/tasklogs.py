"""Keep the worker's log to what happened.

Huey logs three lines a minute for each periodic dispatcher (enqueued, executing,
executed), whether or not anything was due, and two for every run of a routine
task. Such a task logs what it did itself (``engine.dispatch_due`` what it queued,
the search indexer how many messages it indexed), so each app names its tasks with
:func:`install` and Huey's routine lines about them are dropped; their warnings and
errors still pass.
"""

from __future__ import annotations

import logging

#: The loggers Huey writes those lines to: its API and the consumer's scheduler.
HUEY_LOGGERS = ("huey", "huey.consumer.Scheduler")
#: The names of the tasks whose routine lines are dropped.
QUIET_TASKS: set[str] = set()


class QuietDispatch(logging.Filter):
    """Drops Huey's INFO and DEBUG lines about the tasks in :data:`QUIET_TASKS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return not any(task in str(arg) for arg in args for task in QUIET_TASKS)


def install(task: str) -> None:
    """Drop Huey's routine lines about the task ``task`` (a function name)."""
    QUIET_TASKS.add(task)
    for name in HUEY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietDispatch) for f in logger.filters):
            logger.addFilter(QuietDispatch())
