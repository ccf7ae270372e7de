"""``postkamer worker``: the background worker: the Huey consumer (queued tasks and
the schedule) and, in the same process, the watchers that hold inboxes in IMAP
IDLE (``postkamer.fetching.watchers``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from postkamer.core.startup import require_keys


class Command(BaseCommand):
    help = "Run the background worker: periodic fetching, queued tasks and push (IMAP IDLE)."

    def handle(self, *args: Any, **options: Any) -> None:
        require_keys()
        from postkamer.fetching.engine import POOL_MAX, raise_file_limit
        from postkamer.fetching.watchers import start_service

        # Kept-open IMAP connections and IDLE watchers are file descriptors; the
        # usual soft limit of 1,024 would cap them at a few hundred mailboxes.
        raise_file_limit(2 * POOL_MAX + settings.POSTKAMER_WATCHERS + 1024)
        service = start_service()
        try:
            # Huey stops on SIGTERM (at once) and SIGINT (after the running tasks)
            # and returns here; the leases go back before the process ends.
            call_command("run_huey")
        finally:
            service.stop()
