"""Synchronisation state per server folder, the record of each fetch run, the
worker processes and who watches which inbox with IMAP IDLE."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from postkamer.mailboxes.models import Mailbox


class FolderState(models.Model):
    """What is committed of one server folder: its UIDVALIDITY and the highest UID
    whose message is stored. The mark only moves after the messages below it are
    committed (docs/product.md, Fetching)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folder_states")
    role = models.CharField(max_length=10)  # inbox / junk / sent (messages.Folder)
    name = models.CharField(max_length=255)  # the server's folder name
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    last_uid = models.PositiveBigIntegerField(default=0)
    uidnext = models.PositiveBigIntegerField(null=True, blank=True)
    highestmodseq = models.PositiveBigIntegerField(null=True, blank=True)
    message_count = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "role"], name="folder_state_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}:{self.role}:{self.name}"


class WorkerQuerySet(models.QuerySet["Worker"]):
    def live(self, now: dt.datetime | None = None) -> WorkerQuerySet:
        """Workers that reported within one watch lease and have not stopped: they
        share the watched mailboxes, and a fetch lease held by any other worker is
        free (``fetching.lease``)."""
        now = now or timezone.now()
        window = dt.timedelta(seconds=settings.POSTKAMER_WATCH_LEASE)
        return self.filter(stopped_at__isnull=True, last_seen__gte=now - window)


class Worker(models.Model):
    """A ``postkamer worker`` process as it last reported itself (``postkamer status``
    reads these); the live ones share the watched mailboxes between them."""

    name = models.CharField(max_length=120, unique=True)  # host:pid:random
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    #: Mailboxes whose inbox it holds in IDLE, and its watcher connections open.
    watching = models.PositiveIntegerField(default=0)
    connections = models.PositiveIntegerField(default=0)

    objects = WorkerQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class Watch(models.Model):
    """Who watches a mailbox's inbox with IMAP IDLE (``worker`` while ``lease_until``
    is in the future; claimed and renewed with conditional UPDATEs, see
    ``postkamer.fetching.push``), and how that goes (``state`` since ``since``;
    ``error_code`` says why a watched mailbox is polled instead)."""

    class State(models.TextChoices):
        IDLE = "idle"
        POLLING = "polling"
        OFF = "off"

    mailbox = models.OneToOneField(
        Mailbox, on_delete=models.CASCADE, primary_key=True, related_name="watch"
    )
    worker = models.ForeignKey(
        Worker, on_delete=models.SET_NULL, null=True, blank=True, related_name="watches"
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.POLLING)
    since = models.DateTimeField(default=timezone.now)
    error_code = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"watch of mailbox {self.mailbox_id}: {self.state}"


class FetchRun(models.Model):
    """One fetch of one mailbox: shown in the UI as "last fetched … found N".

    A mailbox has at most one open (unfinished) run: asking again returns it
    (``postkamer.fetching.queue``). Why a run failed or was skipped is kept as
    ``error_code`` and ``error_params``, put into words when shown
    (``postkamer.fetching.problems``)."""

    class Trigger(models.TextChoices):
        INTERVAL = "interval"
        BUTTON = "button"
        COMMAND = "command"
        REPAIR = "repair"
        PUSH = "push"  # the server announced new mail (IMAP IDLE)

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="fetch_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    new_messages = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    #: New mail was announced while this run was open: it reads the inbox, and
    #: once more after it ends if the news came after it had started.
    again = models.BooleanField(default=False)
    #: The worker process running it (None for ``postkamer fetch`` and old runs).
    worker = models.ForeignKey(
        Worker, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["mailbox", "-queued_at"], name="fetchrun_recent_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox"],
                condition=models.Q(finished_at__isnull=True),
                name="fetchrun_one_open_per_mailbox",
            ),
        ]

    def __str__(self) -> str:
        return f"fetch {self.pk} of mailbox {self.mailbox_id}"

    @property
    def error(self) -> str:
        """Why the run failed or was skipped, in the active language ("" if not)."""
        from postkamer.fetching.problems import describe

        return describe(self.error_code, self.error_params)
