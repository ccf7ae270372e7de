"""``postkamer fetch MAILBOX_ID``: fetch one mailbox now, in the foreground (SPEC §6)."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from postkamer.fetching import engine
from postkamer.fetching.models import FetchRun
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
        # Recorded like a queued run so the UI shows it, but created directly
        # (not through request_fetch) because it runs here, not in the worker.
        run = FetchRun.objects.create(mailbox=mailbox, trigger=FetchRun.Trigger.COMMAND)
        bar = _ProgressBar(sys.stderr)
        started = time.monotonic()
        ok = engine.run_queued(run.pk, progress=bar)
        bar.finish()
        run.refresh_from_db()
        seconds = time.monotonic() - started
        if run.ok is None and run.error_code == "busy":
            raise CommandError(run.error)
        if not ok:
            raise CommandError(run.error or _("The fetch failed."))
        self.stdout.write(
            _("%(name)s: %(count)d new messages in %(seconds).1f s.")
            % {"name": mailbox.name, "count": run.new_messages, "seconds": seconds}
        )
