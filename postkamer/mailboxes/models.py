"""The mailbox: identity, server settings, fetch settings and status (docs/product.md, The mailbox)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postkamer import crypto
from postkamer.accounts.models import Tenant, User, WorkflowGroup
from postkamer.shared.validators import HeaderValue


class MailboxType(models.TextChoices):
    IMAP = "imap", _("IMAP/SMTP")
    OFFICE365 = "office365", _("Office 365")
    GMAIL = "gmail", _("Google Workspace")


#: The types that sign in with OAuth2 (XOAUTH2) instead of a password.
OAUTH_TYPES = (MailboxType.OFFICE365, MailboxType.GMAIL)


class MicrosoftAuth(models.TextChoices):
    # A person signs in once ("Verbinden met Microsoft"); Postkamer keeps a refresh token.
    DELEGATED = "delegated", _("Sign in with a Microsoft account (delegated)")
    # No one signs in: the app's own permission on the mailbox (client credentials).
    APPLICATION = "application", _("Application permission, no sign-in (app-only)")


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("None (insecure, test only)")


# Minutes; None means no automatic fetching (docs/product.md, The mailbox).
INTERVAL_CHOICES = [(None, _("none")), *[(m, _("%d min") % m) for m in (1, 5, 10, 15, 30, 60)]]
INTERVAL_VALUES = (1, 5, 10, 15, 30, 60)


# The settings a manager edits, in form order (the names of the public API). The web form shows
# ``interval_minutes`` as its own "interval" choice field; the API takes it as is.
SETTINGS_FIELDS = (
    "name",
    "sender_address",
    "display_name",
    "type",
    "microsoft_auth",
    "microsoft_tenant",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "allow_insecure",
    "interval_minutes",
    "max_errors",
    "sent_folder",
    "junk_folder",
    "sync_since",
)


def _now() -> timezone.datetime:
    return timezone.now()


class Mailbox(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="mailboxes")
    # These three end up in the From header of outgoing mail.
    name = models.CharField(_("name"), max_length=200, validators=[HeaderValue(_("name"))])
    sender_address = models.EmailField(
        _("sender address"), validators=[HeaderValue(_("sender address"))]
    )
    display_name = models.CharField(
        _("display name"),
        max_length=200,
        blank=True,
        validators=[HeaderValue(_("display name"))],
    )
    type = models.CharField(
        _("type"), max_length=20, choices=MailboxType.choices, default=MailboxType.IMAP
    )

    # Office 365 only: how Postkamer gets its tokens, and in which Entra ID tenant
    # (a tenant ID or domain; required for app-only, else "organizations").
    microsoft_auth = models.CharField(
        _("Microsoft access"),
        max_length=20,
        choices=MicrosoftAuth.choices,
        default=MicrosoftAuth.DELEGATED,
    )
    microsoft_tenant = models.CharField(_("Microsoft tenant"), max_length=255, blank=True)

    imap_host = models.CharField(_("IMAP server"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    imap_username = models.CharField(_("IMAP user name"), max_length=255, blank=True)
    imap_password_enc = models.TextField(blank=True, editable=False)
    smtp_host = models.CharField(_("SMTP server"), max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=587)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=10, choices=Security.choices, default=Security.STARTTLS
    )
    smtp_username = models.CharField(_("SMTP user name"), max_length=255, blank=True)
    smtp_password_enc = models.TextField(blank=True, editable=False)
    allow_insecure = models.BooleanField(_("allow insecure connections (test only)"), default=False)

    interval_minutes = models.PositiveSmallIntegerField(
        _("interval"), null=True, blank=True, default=5
    )
    max_errors = models.PositiveSmallIntegerField(_("disable after errors"), default=5)
    sent_folder = models.CharField(_("IMAP sent folder"), max_length=255, blank=True)
    junk_folder = models.CharField(_("IMAP junk folder"), max_length=255, blank=True)
    sync_since = models.DateTimeField(_("synchronisation date"), default=_now)
    # Set on the Beveiliging tab: checked before the selectors seen in stored mail.
    dkim_selector = models.CharField(_("DKIM selector"), max_length=200, blank=True)

    # Fetch status, kept as codes and parameters (postkamer.mailboxes.problems) and
    # put into words when shown: ``last_error`` and ``disabled_reason`` below.
    error_count = models.PositiveIntegerField(default=0, editable=False)
    last_error_code = models.CharField(max_length=40, blank=True, editable=False)
    last_error_params = models.JSONField(default=dict, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fetch_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_code = models.CharField(max_length=40, blank=True, editable=False)
    disabled_params = models.JSONField(default=dict, blank=True, editable=False)

    # Scheduling and the claim that keeps two fetches of one mailbox apart (docs/product.md, Fetching):
    # a conditional UPDATE sets lease_until/lease_token; 0 rows = someone else has it,
    # and a crashed worker's lease simply expires. lease_worker is the id of the
    # worker process (fetching's Worker; no foreign key: mailboxes sits below
    # fetching) holding it, so a lease is free as soon as that worker stops reporting.
    next_fetch_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.CharField(max_length=64, blank=True, editable=False)
    lease_worker = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    # Repair synchronisation: the next fetch considers every message from this moment.
    repair_since = models.DateTimeField(null=True, blank=True, editable=False)

    owner_users = models.ManyToManyField(User, blank=True, related_name="owned_mailboxes")
    owner_groups = models.ManyToManyField(
        WorkflowGroup, blank=True, related_name="linked_mailboxes"
    )

    created_at = models.DateTimeField(default=_now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("sender_address"), name="mailbox_unique_sender_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.sender_address}>"

    # Secrets are write-only: code sets them through these properties and reads
    # them only to open a connection.
    @property
    def imap_password(self) -> str:
        return crypto.decrypt(self.imap_password_enc)

    @imap_password.setter
    def imap_password(self, value: str) -> None:
        self.imap_password_enc = crypto.encrypt(value)

    @property
    def smtp_password(self) -> str:
        return crypto.decrypt(self.smtp_password_enc)

    @smtp_password.setter
    def smtp_password(self, value: str) -> None:
        self.smtp_password_enc = crypto.encrypt(value)

    @property
    def has_imap_password(self) -> bool:
        return bool(self.imap_password_enc)

    @property
    def effective_smtp_username(self) -> str:
        """SMTP user name, defaulting to the IMAP one (docs/product.md, The mailbox)."""
        return self.smtp_username or self.imap_username

    @property
    def effective_smtp_password(self) -> str:
        """SMTP password, defaulting to the IMAP one (docs/product.md, The mailbox)."""
        return self.smtp_password if self.smtp_password_enc else self.imap_password

    def set_interval(self, minutes: int | None) -> None:
        """Set the fetch interval; choosing one again re-enables a disabled mailbox."""
        self.interval_minutes = minutes
        if minutes is not None and self.disabled_code:
            self.disabled_code, self.disabled_params = "", {}
            self.error_count = 0

    @property
    def uses_oauth(self) -> bool:
        """True for the types that sign in with OAuth2 instead of a password."""
        return self.type in OAUTH_TYPES

    @property
    def is_disabled(self) -> bool:
        return bool(self.disabled_code)

    @property
    def last_error(self) -> str:
        """The last fetch error in words, in the active language ("" when none)."""
        from postkamer.mailboxes.problems import describe

        return describe(self.last_error_code, self.last_error_params)

    @property
    def disabled_reason(self) -> str:
        """Why automatic fetching is off, in the active language ("" when it is on)."""
        from postkamer.mailboxes.problems import describe

        return describe(self.disabled_code, self.disabled_params)


class AuditAction(models.TextChoices):
    CREATED = "created", _("created")
    SETTINGS_CHANGED = "settings_changed", _("settings changed")
    OWNER_ADDED = "owner_added", _("owner added")
    OWNER_REMOVED = "owner_removed", _("owner removed")
    GROUP_LINKED = "group_linked", _("workflow group linked")
    GROUP_UNLINKED = "group_unlinked", _("workflow group unlinked")
    SYNC_REPAIRED = "sync_repaired", _("synchronisation repaired")
    OAUTH_CONNECTED = "oauth_connected", _("connected with Microsoft or Google")
    OAUTH_DISCONNECTED = "oauth_disconnected", _("connection with Microsoft or Google removed")
    OAUTH_EXPIRED = "oauth_expired", _("connection with Microsoft or Google expired")
    AUTO_DISABLED = "auto_disabled", _("fetching switched off after errors")
    AUTO_REPLY_CHANGED = "auto_reply_changed", _("automatic reply changed")
    AUTO_REPLY_FAILED = "auto_reply_failed", _("automatic reply not sent")
    DELETED = "deleted", _("deleted")
    TEMPLATE_CHANGED = "template_changed", _("template changed")


class MailboxAuditEntry(models.Model):
    """One change to a mailbox: who, what, when (docs/product.md, The mailbox).

    ``detail`` holds names and IDs only; secret values never go in (see audit.record).

    The log outlives the mailbox: deleting one sets ``mailbox`` to NULL and keeps
    every entry, findable by ``tenant`` and ``mailbox_ref`` (the old ID; IDs are
    never reused on SQLite or PostgreSQL), with the name it had at the time. The
    last entry says who deleted it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    mailbox_ref = models.PositiveBigIntegerField(_("mailbox ID"), db_index=True)
    mailbox_name = models.CharField(_("mailbox"), max_length=200)
    # Kept when the actor is deleted: the entry still says what happened.
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=AuditAction.choices)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("moment"), default=_now, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.mailbox_name} ({self.mailbox_ref}) {self.action} {self.at:%Y-%m-%d %H:%M}"


class OAuthGrant(models.Model):
    """What Postkamer holds to sign in to an OAuth2 mailbox: the refresh token of the
    person who connected it (delegated) and the cached access token, both encrypted
    like the passwords (``postkamer.crypto``), never shown, never logged.

    The access token is cached here, not in a process, so the web and worker
    processes share it; ``refresh_claim``/``refresh_claim_until`` make one of them
    refresh at a time (a conditional UPDATE, like the fetch lease), which matters
    because a refresh may rotate the refresh token and the old one stops working.
    See ``postkamer.mailboxes.oauth``.

    ``provider``, ``flow`` and ``tenant`` say what the tokens were given for; changing
    any of them on the mailbox (or its type or sender address) deletes the grant, so a
    refresh token is never used for another tenant or mailbox.
    """

    mailbox = models.OneToOneField(
        Mailbox, on_delete=models.CASCADE, primary_key=True, related_name="oauth_grant"
    )
    provider = models.CharField(max_length=20)
    flow = models.CharField(max_length=20)
    tenant = models.CharField(max_length=255, blank=True)
    account = models.CharField(max_length=254, blank=True)
    refresh_token_enc = models.TextField(blank=True)
    access_token_enc = models.TextField(blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    # Shortly before expiry: the token is used until then, refreshed after.
    access_use_until = models.DateTimeField(null=True, blank=True)
    needs_reconnect = models.BooleanField(default=False)
    connected_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_claim = models.CharField(max_length=64, blank=True)
    refresh_claim_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("OAuth2 connection")
        verbose_name_plural = _("OAuth2 connections")

    def __str__(self) -> str:
        return f"{self.provider}/{self.flow} for mailbox {self.mailbox_id}"
