from django.contrib import admin

from postkamer.messages.models import Attachment, Message, RawMessage
from postkamer.shared.admin import ReadOnlyAdmin

# Platform staff trace what a fetch stored (where, when, how big, what went wrong);
# the mail itself (addresses, bodies, raw bytes) is read in the product, under its
# access rule, not here. (A message is named by its subject, as everywhere.)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "mailbox", "folder", "uid", "size", "received_at"]
    list_filter = ["folder", "repaired"]
    search_fields = ["message_id", "mailbox__name"]
    fields = [
        "mailbox",
        "folder",
        "server_folder",
        "uidvalidity",
        "uid",
        "message_id",
        "sha256",
        "size",
        "date",
        "internal_date",
        "received_at",
        "has_attachments",
        "is_auto",
        "repaired",
        "problems",
    ]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "message", "content_type", "size"]
    fields = ["message", "content_type", "size", "part", "inline"]


@admin.register(RawMessage)
class RawMessageAdmin(ReadOnlyAdmin):
    list_display = ["sha256", "size", "pack", "offset"]
    search_fields = ["sha256"]
    fields = ["sha256", "size", "pack", "offset"]
