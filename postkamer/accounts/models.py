"""Tenants, organisations, users, workflow groups, rights and editions (docs/product.md, People and rights)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import TokenProxy


class Edition(models.TextChoices):
    BASIS = "basis", _("Basis")
    COMPLEET = "compleet", _("Compleet")
    VERZEKERING_PROVINCIAAL = "verzekering_provinciaal", _("Verzekering Provinciaal")
    HYPOTHEEK_TOTAAL = "hypotheek_totaal", _("Hypotheek Totaal")


# The editions that include the e-mail manager (help page: "Beschikbaar in").
EMAIL_EDITIONS = frozenset(
    {Edition.COMPLEET, Edition.VERZEKERING_PROVINCIAAL, Edition.HYPOTHEEK_TOTAAL}
)


class Right(models.TextChoices):
    EMAIL_MANAGER = "email_manager", _("E-mail manager")
    MULTI_USER = "multi_user", _("Multi-user (internal administrator)")
    REPAIR_SYNC = "repair_sync", _("Repair synchronisation")


class Tenant(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    edition = models.CharField(
        _("edition"), max_length=40, choices=Edition.choices, default=Edition.COMPLEET
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")

    def __str__(self) -> str:
        return self.name

    @property
    def has_email_manager(self) -> bool:
        """True when this tenant's edition includes the e-mail manager."""
        return self.edition in EMAIL_EDITIONS


class Organisation(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="organisations")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "parent", "name"], name="organisation_unique_name_per_parent"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.parent_id and self.parent.tenant_id != self.tenant_id:
            raise ValidationError(_("The parent organisation belongs to another tenant."))


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an e-mail address.

    Office users belong to one tenant and one organisation in it. Platform staff
    (``is_staff`` without a tenant) manage tenants in the Django admin only.
    """

    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="users"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    right_email_manager = models.BooleanField(_("e-mail manager"), default=False)
    right_multi_user = models.BooleanField(_("multi-user"), default=False)
    right_repair_sync = models.BooleanField(_("repair synchronisation"), default=False)
    language = models.CharField(
        _("language"), max_length=5, choices=[("nl", "Nederlands"), ("en", "English")], default="nl"
    )
    default_mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default mailbox"),
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["name", "email"]
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        # A new password, except when check_password only re-hashes the same one
        # with a newer hasher (see below). save() acts on it.
        if not getattr(self, "_rehashing", False):
            self._password_changed = True

    def check_password(self, raw_password: str) -> bool:
        # Django upgrades an old hash by calling set_password from inside
        # check_password: the password is the same, so the API token stays.
        self._rehashing = True
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing = False

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        saved_password = update_fields is None or "password" in update_fields
        if getattr(self, "_password_changed", False) and saved_password:
            self._password_changed = False
            from postkamer.accounts.tokens import rotate_if_present

            rotate_if_present(self)

    def has_right(self, right: str) -> bool:
        """True when this active office user holds ``right`` (a Right value)."""
        if not self.is_active or self.tenant_id is None:
            return False
        return bool(getattr(self, f"right_{right}", False))

    @property
    def rights(self) -> list[str]:
        return [r.value for r in Right if self.has_right(r.value)]


class WorkflowGroup(models.Model):
    """A team inside a tenant; linking it to a mailbox gives all members access."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="workflow_groups")
    name = models.CharField(_("name"), max_length=200)
    members = models.ManyToManyField(User, blank=True, related_name="workflow_groups")

    class Meta:
        ordering = ["name"]
        verbose_name = _("workflow group")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="workflow_group_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class LoginThrottle(models.Model):
    """The password checks one account or one client address used up in its current
    window (``postkamer.accounts.throttle``). In the database, so that every web
    process counts on the same row, and one row per key, so that a conditional
    UPDATE can take a slot atomically."""

    key = models.CharField(max_length=300, unique=True)
    count = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} since {self.window_start:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app notification for one user (e.g. "mailbox X was switched off")."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    # Made into words when shown, in the reader's language (accounts.notifications);
    # ``text`` only holds what older notifications were stored as.
    params = models.JSONField(default=dict, blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class ApiToken(TokenProxy):
    """A user's API token as the admin shows it: named by its first characters only
    (list, page titles, delete confirmation, the admin's history)."""

    class Meta:
        proxy = True
        verbose_name = _("API token")

    def __str__(self) -> str:
        from postkamer.accounts.tokens import prefix

        return prefix(self.key)
