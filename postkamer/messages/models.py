"""Stored messages: raw bytes kept byte-exact, parsed fields, attachments (SPEC §4)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postkamer.mailboxes.models import Mailbox


class Folder(models.TextChoices):
    INBOX = "inbox", _("Inbox")
    JUNK = "junk", _("Junk")
    SENT = "sent", _("Sent")


class RawMessage(models.Model):
    """The raw bytes of one message, content-addressed by SHA-256.

    Either in ``data`` (the ``database`` raw store) or at ``offset`` in pack
    segment ``pack`` (``data`` empty); read them with
    ``postkamer.messages.rawstore.read``, which knows both.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    data = models.BinaryField(blank=True, default=b"")
    pack = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    offset = models.PositiveBigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class Message(models.Model):
    # Every index costs each insert of a bulk fetch, so only those a query uses: the
    # list and unique indexes below both start with the mailbox (no separate FK index).
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    folder = models.CharField(max_length=10, choices=Folder.choices)
    # Where the message sits on the server: (folder, UIDVALIDITY, UID) is unique, so a
    # second insert of the same server message is impossible. Mail we sent is stored
    # before it is on the server (or when no sent folder is set, never): NULL then,
    # which the constraint ignores on SQLite and PostgreSQL alike.
    server_folder = models.CharField(max_length=255)
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    uid = models.PositiveBigIntegerField(null=True, blank=True)
    raw = models.ForeignKey(RawMessage, on_delete=models.PROTECT, related_name="messages")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()

    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    from_addresses = models.JSONField(default=list)
    to_addresses = models.JSONField(default=list)
    cc_addresses = models.JSONField(default=list)
    reply_to_addresses = models.JSONField(default=list)
    date = models.DateTimeField(null=True, blank=True)
    internal_date = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    has_attachments = models.BooleanField(default=False)
    is_auto = models.BooleanField(default=False)
    seen_on_server = models.BooleanField(default=False)
    problems = models.JSONField(default=list, blank=True)
    # Fetched by "repair synchronisation": never triggers an auto-reply.
    repaired = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "server_folder", "uidvalidity", "uid"],
                name="message_unique_server_uid",
            ),
        ]
        indexes = [
            models.Index(fields=["mailbox", "folder", "-received_at"], name="message_list_idx"),
            # The fetch's duplicate check: this mailbox and folder, these hashes.
            models.Index(fields=["mailbox", "folder", "sha256"], name="message_dedupe_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or f"message {self.pk}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=500, blank=True)
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    part = models.CharField(max_length=100)
    content_id = models.CharField(max_length=500, blank=True)
    inline = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.filename or self.part
