from django.contrib import admin

from postkamer.mailboxes.models import Mailbox


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["name", "sender_address", "tenant", "type", "interval_minutes", "error_count"]
    list_filter = ["tenant", "type"]
    search_fields = ["name", "sender_address"]
    # Secrets never appear in the admin: the encrypted columns are not editable.
    exclude = ["imap_password_enc", "smtp_password_enc"]
    filter_horizontal = ["owner_users", "owner_groups"]
