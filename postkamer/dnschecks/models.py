"""Stored results of the sender-domain checks (the "Beveiliging" tab, docs/product.md, The mailbox)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from postkamer.mailboxes.models import Mailbox


class Status(models.TextChoices):
    OK = "ok", _("OK")
    WARNING = "warning", _("warning")
    ERROR = "error", _("error")
    UNKNOWN = "unknown", _("unknown")


class SecurityCheck(models.Model):
    """One SPF/DKIM/DMARC check of a mailbox's sender domain.

    Every check is kept (history); the newest is the one shown. ``result`` is
    the checker's ``DomainReport.to_dict()``: codes and params are what count,
    its English messages are re-rendered in the reader's language.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="security_checks")
    domain = models.CharField(max_length=255)
    checked_at = models.DateTimeField()
    result = models.JSONField()
    spf_status = models.CharField(max_length=10, choices=Status.choices)
    dkim_status = models.CharField(max_length=10, choices=Status.choices)
    dmarc_status = models.CharField(max_length=10, choices=Status.choices)
    # Denormalised so the mailbox list can flag errors with one subquery.
    has_error = models.BooleanField(default=False)
    # DKIM selectors seen in the mailbox's own stored mail, tried first.
    selectors_in_use = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-checked_at", "-pk"]
        indexes = [
            models.Index(fields=["mailbox", "-checked_at"], name="securitycheck_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def statuses(self) -> dict[str, str]:
        return {"spf": self.spf_status, "dkim": self.dkim_status, "dmarc": self.dmarc_status}
