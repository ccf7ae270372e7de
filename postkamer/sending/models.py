"""Writing and sending mail: the mailbox template, outgoing messages and their attachments.

An :class:`OutgoingMessage` moves draft -> queued -> sending -> sent, or to failed
(which opens as an editable draft again). Only ``sending.actions`` changes its
state; the worker claims a row with a conditional UPDATE on ``lease_until`` /
``lease_token`` (like the fetch claim on the mailbox), so two workers never send
one message twice and a crashed worker's claim expires by itself.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postkamer.accounts.models import User
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Message, RawMessage

#: Web-safe font families: the name shown and stored -> the CSS list applied.
FONT_STACKS = {
    "Arial": "Arial, Helvetica, sans-serif",
    "Calibri": "Calibri, Carlito, Arial, sans-serif",
    "Courier New": "'Courier New', Courier, monospace",
    "Georgia": "Georgia, 'Times New Roman', serif",
    "Helvetica": "Helvetica, Arial, sans-serif",
    "Tahoma": "Tahoma, Verdana, sans-serif",
    "Times New Roman": "'Times New Roman', Times, serif",
    "Trebuchet MS": "'Trebuchet MS', Helvetica, sans-serif",
    "Verdana": "Verdana, Geneva, sans-serif",
}
FONT_SIZES = (8, 9, 10, 11, 12, 14, 16, 18, 20, 24)


class MailTemplate(models.Model):
    """Tab Template: the font of mail written from a mailbox, and its signature."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="mail_template")
    font_family = models.CharField(
        _("font"),
        max_length=40,
        choices=[(name, name) for name in FONT_STACKS],
        default="Arial",
    )
    font_size = models.PositiveSmallIntegerField(
        _("font size"), choices=[(s, f"{s} pt") for s in FONT_SIZES], default=11
    )
    font_color = models.CharField(_("font colour"), max_length=7, default="#000000")
    # Sanitised on save (mail/html.sanitize_outgoing_html) and again when shown.
    signature_html = models.TextField(_("signature"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"template of {self.mailbox_id}"

    @property
    def font_css_family(self) -> str:
        """The CSS font-family list for ``font_family``."""
        return FONT_STACKS.get(self.font_family, FONT_STACKS["Arial"])


class OutgoingMessage(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        QUEUED = "queued", _("being sent")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Kind(models.TextChoices):
        NEW = "new", _("new message")
        REPLY = "reply", _("reply")
        REPLY_ALL = "reply_all", _("reply to all")
        FORWARD = "forward", _("forward")
        # Written by the system (``author`` None), never opened as a draft.
        AUTO_REPLY = "auto_reply", _("automatic reply")

    class Append(models.TextChoices):
        NONE = "", _("no sent folder")
        PENDING = "pending", _("waiting")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="outgoing")
    # None for mail the system writes (auto-replies). Kept when the user is deleted.
    author = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="outgoing"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NEW)
    # [{"name": ..., "address": ...}], like Message's address lists.
    to_addresses = models.JSONField(default=list, blank=True)
    cc_addresses = models.JSONField(default=list, blank=True)
    bcc_addresses = models.JSONField(default=list, blank=True)
    subject = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    reply_to = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    forward_of = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Chosen by the compose page, so a save repeated after a lost answer finds the
    # draft it created instead of creating a second one.
    client_key = models.CharField(max_length=64, blank=True)
    extra_headers = models.JSONField(default=list, blank=True)
    null_sender = models.BooleanField(default=False)
    retry = models.BooleanField(default=True)

    # Fixed when queued: every attempt sends these very bytes.
    message_id = models.CharField(max_length=998, blank=True)
    raw = models.ForeignKey(
        RawMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="outgoing"
    )
    copy_raw = models.ForeignKey(
        RawMessage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outgoing_copies",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The last error as a code and parameters, translated when shown; the server's
    # own words go to the log only.
    error_code = models.CharField(max_length=40, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # Recipients the server refused while taking the message for the others:
    # {address: smtp code}.
    refused = models.JSONField(default=dict, blank=True)
    envelope_from = models.CharField(max_length=320, blank=True)
    # The copy under Verzonden, stored at once after the server took the message.
    sent_message = models.OneToOneField(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="outgoing"
    )
    append_state = models.CharField(
        max_length=10, choices=Append.choices, default=Append.NONE, blank=True
    )
    append_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["author", "state", "-updated_at"], name="outgoing_author_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "client_key"],
                condition=~models.Q(client_key=""),
                name="outgoing_unique_client_key",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"outgoing {self.pk}"

    @property
    def editable(self) -> bool:
        """Drafts and failed messages can be changed and sent (again)."""
        return self.state in (self.State.DRAFT, self.State.FAILED)

    def all_recipients(self) -> list[str]:
        """The envelope recipients: To, Cc and Bcc, each address once."""
        seen: dict[str, None] = {}
        for item in [*self.to_addresses, *self.cc_addresses, *self.bcc_addresses]:
            seen.setdefault(item["address"], None)
        return list(seen)


class OutgoingAttachment(models.Model):
    """An attachment of an outgoing message: uploaded bytes (content-addressed in
    the raw store) or a part of a stored message, copied only when sent."""

    outgoing = models.ForeignKey(
        OutgoingMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    blob = models.ForeignKey(
        RawMessage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outgoing_attachments",
    )
    source_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_part = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.filename
