"""``postkamer worker``: the background worker (Huey consumer) alone."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from postkamer.core.startup import require_keys


class Command(BaseCommand):
    help = "Run the background worker: periodic fetching and queued tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        require_keys()
        from postkamer.fetching.engine import raise_file_limit

        # Kept-open IMAP connections are file descriptors; the usual soft limit
        # of 1,024 would cap the connection pool at 512 mailboxes.
        raise_file_limit()
        call_command("run_huey")
