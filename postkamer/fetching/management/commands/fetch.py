"""``postkamer fetch MAILBOX_ID``: fetch one mailbox now, in the foreground (docs/product.md, Public interfaces)."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from postkamer.fetching import engine, problems, queue
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox


class _ProgressBar:
    """Messages done / total and MB on stderr, redrawn at most ten times a second."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, size: int) -> None:
        now = time.monotonic()
        if total == 0 or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {size / 1e6:.1f} MB")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Fetch one mailbox now, with progress, and print a one-line summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mailbox_id", type=int)

    def handle(self, *args: object, **options: object) -> None:
        mailbox = Mailbox.objects.filter(pk=options["mailbox_id"]).first()
        if mailbox is None:
            raise CommandError(_("Mailbox %(id)s does not exist.") % {"id": options["mailbox_id"]})
        started = time.monotonic()
        bar = _ProgressBar(sys.stderr)
        while True:
            # Like the button: a run already queued or running is that run. Not
            # handed to the worker: this command runs it here, unless the worker
            # took it first, and then waits for it.
            run = request_fetch(mailbox, trigger=FetchRun.Trigger.COMMAND, enqueue=False)
            engine.run_queued(run.pk, progress=bar)
            bar.finish()
            run = self._wait(run)
            if run is not None:
                break
        seconds = time.monotonic() - started
        if run.ok is None:
            raise CommandError(run.error)
        if not run.ok:
            raise CommandError(run.error or _("The fetch failed."))
        self.stdout.write(
            _("%(name)s: %(count)d new messages in %(seconds).1f s.")
            % {"name": mailbox.name, "count": run.new_messages, "seconds": seconds}
        )

    def _wait(self, run: FetchRun) -> FetchRun | None:
        """Wait until ``run`` finished and return it; None when it was abandoned
        (its worker stopped) and a new one should be asked for."""
        told = False
        while True:
            run.refresh_from_db()
            if run.finished_at is not None:
                return None if run.error_code == problems.ABANDONED else run
            if queue.is_stale(run):
                queue.abandon(run)
                continue
            if not told:
                self.stderr.write(_("Waiting for the fetch that is already running…"))
                told = True
            time.sleep(0.5)
