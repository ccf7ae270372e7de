"""Stored messages: raw bytes kept byte-exact, parsed fields, attachments (docs/product.md, Fetching)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
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
    # The conversation, found with two indexed equality lookups (messages/threads.py):
    # the first Message-ID of References (else In-Reply-To, else its own), and the
    # subject without Re:/Fw:/Antw:/Doorst: for mail that carries no such headers.
    thread_key = models.CharField(max_length=255, blank=True, default="")
    subject_key = models.CharField(max_length=255, blank=True, default="")

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
            models.Index(fields=["mailbox", "thread_key"], name="message_thread_idx"),
            models.Index(fields=["mailbox", "subject_key"], name="message_subject_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or f"message {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The fetch store fills the keys in its bulk INSERT; rows made one by one
        # (sent mail, tests, the admin) get them here.
        from postkamer.messages import threads

        if not self.thread_key:
            self.thread_key = threads.thread_key(
                self.message_id, self.in_reply_to, self.references.split()
            )
        if not self.subject_key:
            self.subject_key = threads.subject_key(self.subject)
        super().save(*args, **kwargs)


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


class MessageRead(models.Model):
    """``user`` has read ``message``: read state is per person, so a colleague opening
    a shared message leaves it unread for everyone else.

    ``mailbox`` and ``folder`` repeat the message's, so the switcher's unread count
    is two index-only counts, (messages in the inbox) minus (this user's reads in
    it), instead of an anti-join over every message of the mailbox: at 100,000
    messages that stays a few milliseconds (bench/bench_reading.py).
    """

    # The count index below starts with the user: no separate one for the FK.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reads")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    folder = models.CharField(max_length=10, choices=Folder.choices)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="message_read_once"),
        ]
        indexes = [
            models.Index(fields=["user", "mailbox", "folder"], name="message_read_count_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.message_id}"
