from django.contrib import admin

from postkamer.dnschecks.models import SecurityCheck
from postkamer.shared.admin import ReadOnlyAdmin


@admin.register(SecurityCheck)
class SecurityCheckAdmin(ReadOnlyAdmin):
    list_display = ["domain", "mailbox", "checked_at", "spf_status", "dkim_status", "dmarc_status"]
    list_filter = ["has_error"]
    search_fields = ["domain", "mailbox__name"]
