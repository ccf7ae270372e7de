from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from postkamer.accounts import tokens
from postkamer.accounts.forms import AdminLoginForm
from postkamer.accounts.models import (
    ApiToken,
    LoginThrottle,
    Notification,
    Organisation,
    Tenant,
    User,
    WorkflowGroup,
)
from postkamer.shared.admin import ReadOnlyAdmin

# The admin's login page says "too many attempts" like ours (the backend throttles it).
admin.site.login_form = AdminLoginForm


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "edition", "created_at"]
    list_filter = ["edition"]
    search_fields = ["name"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "parent"]
    list_filter = ["tenant"]
    search_fields = ["name"]


@admin.register(WorkflowGroup)
class WorkflowGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant"]
    list_filter = ["tenant"]
    filter_horizontal = ["members"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "tenant", "organisation", "is_active"]
    list_filter = ["tenant", "is_staff", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "name", "language")}),
        ("Office", {"fields": ("tenant", "organisation", "default_mailbox")}),
        ("Rights", {"fields": ("right_email_manager", "right_multi_user", "right_repair_sync")}),
        ("Platform", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = (
        (None, {"fields": ("email", "password1", "password2", "tenant", "organisation")}),
    )
    filter_horizontal = ()


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__email"]


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdmin):
    list_display = ["key", "count", "window_start"]
    search_fields = ["key"]


# DRF's token admin lists every key in full; ours shows the first characters.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    """See and revoke (delete) API tokens. No adding or changing: a key made here
    could never be shown to anyone, and users make their own on My settings."""

    list_display = ("key_prefix", "user", "created")
    search_fields = ("user__email", "user__name")
    search_help_text = _("E-mail address or name")
    ordering = ("user__email",)

    @admin.display(description=_("key"))
    def key_prefix(self, obj: ApiToken) -> str:
        return tokens.prefix(obj.key)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
