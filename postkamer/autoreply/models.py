"""The automatic reply of a mailbox (tab "Automatisch antwoord"): its settings, the
memory of whom it answered, and the decision taken for every message it judged."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from postkamer.mail import autoreply as rules
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Message
from postkamer.sending.models import OutgoingMessage

#: RFC 3834 §2 recommends seven days between two replies to one sender; RFC 5230
#: §4.1 makes it the default and one day the minimum.
DEFAULT_INTERVAL_DAYS = 7
MIN_INTERVAL_DAYS = 1
MAX_INTERVAL_DAYS = 365
#: Replaced by the subject of the message being answered.
ORIGINAL_SUBJECT = "{original subject}"


def default_subject() -> str:
    """The subject a new automatic reply starts with, in the active language."""
    return str(_("Automatic reply: {original subject}"))


class AutoReply(models.Model):
    """One mailbox's automatic reply. A mailbox without a row has none switched on.

    ``response`` identifies the text being sent: it changes with the subject or the
    body, so a sender who got the old text may get the new one once (the Sieve
    vacation ``:handle``, RFC 5230 §4.2). ``active_since`` is when the reply was
    last switched on: mail that arrived before that is never answered, even when
    it is fetched later (an import of old mail must not answer years of senders).
    """

    mailbox = models.OneToOneField(
        Mailbox, on_delete=models.CASCADE, primary_key=True, related_name="auto_reply"
    )
    enabled = models.BooleanField(_("switched on"), default=False)
    starts_at = models.DateTimeField(_("start"), null=True, blank=True)
    ends_at = models.DateTimeField(_("end"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body_html = models.TextField(_("text"), blank=True)
    interval_days = models.PositiveSmallIntegerField(
        _("days between two replies to the same sender"), default=DEFAULT_INTERVAL_DAYS
    )
    response = models.CharField(max_length=64, blank=True, editable=False)
    active_since = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("automatic reply")
        verbose_name_plural = _("automatic replies")

    def __str__(self) -> str:
        return f"auto-reply of mailbox {self.mailbox_id}"

    @staticmethod
    def response_of(subject: str, body_html: str) -> str:
        """The response id of a text: a digest, so saving unchanged text keeps it."""
        return hashlib.sha256(f"{subject}\0{body_html}".encode()).hexdigest()[:32]

    def is_active(self, now: dt.datetime) -> bool:
        """True when the reply is switched on and ``now`` lies in its period."""
        if not self.enabled:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        return self.ends_at is None or now < self.ends_at

    def covers(self, received_at: dt.datetime) -> bool:
        """True when mail received at ``received_at`` falls in the period: from the
        start (and from the moment the reply was switched on) until the end."""
        starts = [m for m in (self.starts_at, self.active_since) if m is not None]
        # Servers keep the moment of arrival in whole seconds (IMAP INTERNALDATE):
        # mail that arrived in the very second the reply was switched on counts.
        if starts and received_at < max(starts).replace(microsecond=0):
            return False
        return self.ends_at is None or received_at < self.ends_at


class ReplyMemory(models.Model):
    """When this mailbox last answered this sender with this response.

    Claimed with a conditional INSERT or UPDATE (``evaluate.claim_sender``), so two
    workers judging mail of one sender at the same moment reply once.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    sender = models.CharField(max_length=320)
    response = models.CharField(max_length=64)
    last_replied_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "sender", "response"], name="autoreply_memory_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sender} {self.last_replied_at:%Y-%m-%d %H:%M}"


class Reason(models.TextChoices):
    """Why a message got no automatic reply. The header rules' codes come from
    ``postkamer.mail.autoreply``; the others are judged here."""

    UNREADABLE = rules.UNREADABLE, _("the message's header could not be read")
    NO_RETURN_PATH = rules.NO_RETURN_PATH, _("the message does not say where replies go")
    NULL_RETURN_PATH = rules.NULL_RETURN_PATH, _("an automatic message (empty return path)")
    BAD_RETURN_PATH = rules.BAD_RETURN_PATH, _("the return path is not a valid address")
    AUTO_SUBMITTED = rules.AUTO_SUBMITTED, _("an automatic message (Auto-Submitted)")
    AUTORESPONDER = rules.AUTORESPONDER, _("an automatic reply from another system")
    DELIVERY_REPORT = rules.DELIVERY_REPORT, _("a delivery or read report")
    PRECEDENCE = rules.PRECEDENCE, _("bulk mail (Precedence)")
    MAILING_LIST = rules.MAILING_LIST, _("mail from a mailing list")
    SUPPRESSED = rules.SUPPRESSED, _("the sender asked for no automatic replies")
    SYSTEM_SENDER = rules.SYSTEM_SENDER, _("a system or no-reply address")
    OWN_ADDRESS = rules.OWN_ADDRESS, _("sent from this mailbox's own address")
    NOT_ADDRESSED = rules.NOT_ADDRESSED, _("this mailbox is not among the recipients")
    OUTSIDE_PERIOD = "outside_period", _("received outside the period of the automatic reply")
    RECENTLY_REPLIED = "recently_replied", _("this sender already got this reply recently")
    SWITCHED_OFF = "switched_off", _("the automatic reply was switched off before it was sent")


class State(models.TextChoices):
    """Where a decision stands. ``skipped`` is "no reply" (see the reason);
    ``pending`` is a reply composed and ready to be handed to the sending worker."""

    SKIPPED = "skipped", pgettext_lazy("auto-reply state", "no reply")
    PENDING = "pending", pgettext_lazy("auto-reply state", "ready to send")
    QUEUED = "queued", pgettext_lazy("auto-reply state", "being sent")
    SENT = "sent", pgettext_lazy("auto-reply state", "sent")
    FAILED = "failed", pgettext_lazy("auto-reply state", "failed")


REPLY_STATES = (State.PENDING, State.QUEUED, State.SENT, State.FAILED)


class ReplyDecision(models.Model):
    """The automatic reply's decision for one newly fetched inbox message.

    One per message (unique), so judging a message twice never answers it twice.
    ``recipient`` is where the reply goes (the original's envelope sender);
    ``reason`` says why there is none; ``error_code`` why sending failed (the
    sending app's code, or one of ``actions.BUILD_ERRORS``), and ``outgoing`` is
    the message handed to the sending worker, whose parameters word the failure.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="auto_reply_decision"
    )
    recipient = models.CharField(max_length=320, blank=True)
    state = models.CharField(max_length=10, choices=State.choices)
    reason = models.CharField(max_length=40, choices=Reason.choices, blank=True)
    response = models.CharField(max_length=64, blank=True)
    # The reply exactly as composed, so the office sees what the customer got.
    subject = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    decided_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    outgoing = models.OneToOneField(
        OutgoingMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [
            models.Index(fields=["mailbox", "-decided_at"], name="autoreply_decision_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.state} {self.reason}"

    @property
    def replied(self) -> bool:
        return self.state in REPLY_STATES
