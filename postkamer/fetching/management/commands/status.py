"""``postkamer status``: the worker processes and what they hold, as they report
it in the database, and the task queue's length."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils import timezone

from postkamer.fetching import push
from postkamer.fetching.models import FetchRun, Watch, Worker
from postkamer.messages import search


def _age(moment: Any, now: Any) -> str:
    if moment is None:
        return "-"
    seconds = (now - moment).total_seconds()
    return f"{seconds:.0f} s ago" if seconds >= 0 else f"in {-seconds:.0f} s"


class Command(BaseCommand):
    help = (
        "Show the worker processes: mailboxes they watch (IMAP IDLE), connections open, "
        "fetches running, their oldest lease; the fetches waiting in the queue, and (on "
        "PostgreSQL) the messages waiting for the search index."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="also list workers that stopped or fell silent"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from huey.contrib.djhuey import HUEY

        now = timezone.now()
        live = set(Worker.objects.live(now).values_list("pk", flat=True))
        workers = Worker.objects.order_by("host", "pid")
        if not options["all"]:
            workers = workers.filter(pk__in=live)
        out = self.stdout.write
        out(f"Fetches queued: {HUEY.pending_count()}  (scheduled later: {HUEY.scheduled_count()})")
        running = FetchRun.objects.filter(started_at__isnull=False, finished_at__isnull=True)
        out(f"Fetches running: {running.count()}")
        out(
            "Mailboxes: "
            f"{Watch.objects.filter(state=push.IDLE, lease_until__gt=now).count()} watched (IDLE), "
            f"{push.watchable().count()} with automatic fetching"
        )
        if connection.vendor == "postgresql":
            out(f"Messages waiting for the search index: {search.pending_count()}")
        if not workers:
            out("No worker is running.")
            return
        out("")
        out(
            f"{'worker':<34} {'state':<8} {'watching':>8} {'leases':>7} {'connections':>11} "
            f"{'running':>7}  {'oldest lease (renewed)':<24} last seen"
        )
        for worker in workers:
            summary = push.worker_summary(worker.pk)
            state = "live" if worker.pk in live else ("stopped" if worker.stopped_at else "silent")
            oldest = summary["oldest_lease"]
            renewed = oldest - push.lease() if oldest is not None else None
            out(
                f"{worker.name:<34} {state:<8} {worker.watching:>8} {summary['leases']:>7} "
                f"{worker.connections:>11} {summary['running']:>7}  "
                f"{_age(renewed, now):<24} {_age(worker.last_seen, now)}"
            )
