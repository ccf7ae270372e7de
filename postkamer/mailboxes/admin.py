"""The mailbox in the Django admin, for platform staff.

Every change goes through the same action functions as the pages and the API
(``actions``): the settings with their rules (the password again when a server
changes, the interval switching fetching back on), the owners one audited change
at a time, and deleting with the log kept. Nothing here writes a mailbox row or
an owner link directly.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from postkamer.accounts.models import User, WorkflowGroup
from postkamer.mailboxes import actions
from postkamer.mailboxes.forms import MailboxForm
from postkamer.mailboxes.models import Mailbox, MailboxAuditEntry
from postkamer.shared.admin import ReadOnlyAdmin

_STATUS = ["error_count", "last_error", "last_error_at", "last_fetch_at", "disabled_reason"]


class MailboxAdminForm(MailboxForm):
    """The mailbox page's form plus the tenant (fixed once saved) and the owners."""

    owner_users = forms.ModelMultipleChoiceField(
        label=_("Owners"),
        queryset=User.objects.filter(tenant__isnull=False, is_active=True),
        required=False,
        widget=FilteredSelectMultiple(_("users"), is_stacked=False),
    )
    owner_groups = forms.ModelMultipleChoiceField(
        label=_("Workflow groups"),
        queryset=WorkflowGroup.objects.all(),
        required=False,
        widget=FilteredSelectMultiple(_("workflow groups"), is_stacked=False),
    )

    class Meta(MailboxForm.Meta):
        fields = ["tenant", *MailboxForm.Meta.fields]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tenant"].disabled = True
            tenant_id = self.instance.tenant_id
            self.fields["owner_users"].queryset = User.objects.filter(
                tenant_id=tenant_id, is_active=True
            )
            self.fields["owner_groups"].queryset = WorkflowGroup.objects.filter(tenant_id=tenant_id)
            self.initial["owner_users"] = list(self.instance.owner_users.all())
            self.initial["owner_groups"] = list(self.instance.owner_groups.all())

    def tenant_for_check(self) -> int | None:
        if self.instance.pk:
            return self.instance.tenant_id
        tenant = self.cleaned_data.get("tenant")
        return tenant.pk if tenant else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant_id = self.tenant_for_check()
        for name in ("owner_users", "owner_groups"):
            others = [o for o in cleaned.get(name) or () if o.tenant_id != tenant_id]
            if others:
                self.add_error(name, _("Choose users and groups of the mailbox's own tenant."))
        return cleaned


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxAdminForm
    list_display = ["name", "sender_address", "tenant", "type", "interval_minutes", "error_count"]
    list_filter = ["tenant", "type"]
    search_fields = ["name", "sender_address"]
    readonly_fields = [*_STATUS, "dkim_selector"]
    # Secrets are write-only: the password fields are always empty, and empty keeps.
    fieldsets = [
        (None, {"fields": ["tenant", "name", "sender_address", "display_name", "type"]}),
        (
            "IMAP/SMTP",
            {
                "fields": [
                    "imap_host",
                    "imap_port",
                    "imap_security",
                    "imap_username",
                    "imap_password",
                    "smtp_host",
                    "smtp_port",
                    "smtp_security",
                    "smtp_username",
                    "smtp_password",
                    "allow_insecure",
                ]
            },
        ),
        ("Office 365", {"fields": ["microsoft_auth", "microsoft_tenant"]}),
        (
            _("Fetching"),
            {"fields": ["interval", "max_errors", "sent_folder", "junk_folder", "sync_since"]},
        ),
        (_("Access"), {"fields": ["owner_users", "owner_groups"]}),
        (_("Status"), {"fields": [*_STATUS, "dkim_selector"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Mailbox, form: Any, change: bool) -> None:
        if change:
            actions.do_update_mailbox(request.user, obj, form.settings())
        else:
            created = actions.do_create_mailbox(
                request.user, form.cleaned_data["tenant"], form.settings()
            )
            obj.pk = created.pk
            obj._state.adding = False
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Not form.save_m2m(): that would change who reads the mail without the log.
        actions.do_set_owners(
            request.user,
            form.instance,
            users=form.cleaned_data["owner_users"],
            groups=form.cleaned_data["owner_groups"],
        )

    def delete_model(self, request: HttpRequest, obj: Mailbox) -> None:
        actions.do_delete_mailbox(request.user, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset:
            actions.do_delete_mailbox(request.user, mailbox)


@admin.register(MailboxAuditEntry)
class MailboxAuditEntryAdmin(ReadOnlyAdmin):
    """The log is written by ``audit.record`` alone, never edited by hand; entries of
    deleted mailboxes stay (``mailbox`` empty, ``mailbox_name`` and ``mailbox_ref`` kept)."""

    list_display = ["at", "tenant", "mailbox_name", "mailbox_ref", "actor_name", "action"]
    list_filter = ["action", "tenant"]
    search_fields = ["mailbox_name", "actor_name"]
