"""Keep the worker's log to what happened.

Huey logs three lines a minute for the periodic dispatcher (enqueued, executing,
executed), whether or not anything was due. The dispatcher logs what it queued
itself (``engine.dispatch_due``), so Huey's lines about it are dropped; its
warnings and errors still pass.
"""

from __future__ import annotations

import logging

#: The loggers Huey writes those lines to: its API and the consumer's scheduler.
HUEY_LOGGERS = ("huey", "huey.consumer.Scheduler")
_TASK = "dispatch_due_fetches"


class QuietDispatch(logging.Filter):
    """Drops Huey's INFO and DEBUG lines about the periodic dispatcher."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return not any(_TASK in str(arg) for arg in args)


def install() -> None:
    """Attach :class:`QuietDispatch` to Huey's loggers (once)."""
    for name in HUEY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietDispatch) for f in logger.filters):
            logger.addFilter(QuietDispatch())
