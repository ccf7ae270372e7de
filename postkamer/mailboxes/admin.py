from django.contrib import admin
from django.http import HttpRequest

from postkamer.mailboxes.models import Mailbox, MailboxAuditEntry


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["name", "sender_address", "tenant", "type", "interval_minutes", "error_count"]
    list_filter = ["tenant", "type"]
    search_fields = ["name", "sender_address"]
    # Secrets never appear in the admin: the encrypted columns are not editable.
    exclude = ["imap_password_enc", "smtp_password_enc"]
    filter_horizontal = ["owner_users", "owner_groups"]


@admin.register(MailboxAuditEntry)
class MailboxAuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by ``audit.record`` alone, never edited by hand."""

    list_display = ["at", "mailbox", "actor_name", "action"]
    list_filter = ["action"]
    search_fields = ["mailbox__name", "actor_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
