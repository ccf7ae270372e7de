from django.contrib import admin

from postkamer.fetching.models import FetchRun, FolderState
from postkamer.shared.admin import ReadOnlyAdmin


@admin.register(FetchRun)
class FetchRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "mailbox", "trigger", "queued_at", "finished_at", "ok", "new_messages"]
    list_filter = ["trigger", "ok"]
    search_fields = ["mailbox__name", "error_code"]


@admin.register(FolderState)
class FolderStateAdmin(ReadOnlyAdmin):
    list_display = ["mailbox", "role", "name", "uidvalidity", "last_uid", "updated_at"]
    list_filter = ["role"]
    search_fields = ["mailbox__name", "name"]
