"""Synchronisation state per server folder, and the record of each fetch run."""

from __future__ import annotations

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
