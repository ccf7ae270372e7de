from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _lazy
from rest_framework import serializers

from postkamer.accounts.models import Organisation, User, WorkflowGroup
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import (
    SETTINGS_FIELDS,
    AuditAction,
    Mailbox,
    MailboxAuditEntry,
)
from postkamer.mailboxes.validation import mailbox_errors

# ``last_error`` and ``disabled_reason`` are made in the caller's language from the
# stored codes (``last_error_code``, ``disabled_code``).
STATUS_FIELDS = [
    "error_count",
    "last_error",
    "last_error_code",
    "last_error_at",
    "last_fetch_at",
    "disabled_reason",
    "disabled_code",
]


class MailboxSerializer(serializers.ModelSerializer):
    imap_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    smtp_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    interval_minutes = serializers.IntegerField(allow_null=True, required=False)
    sync_since = serializers.DateTimeField(required=False)

    class Meta:
        model = Mailbox
        fields = ["id", *SETTINGS_FIELDS, "imap_password", "smtp_password", *STATUS_FIELDS]
        read_only_fields = ["id", *STATUS_FIELDS]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Mailbox | None = self.instance
        merged: dict[str, Any] = {}
        for field in SETTINGS_FIELDS:
            if field in attrs:
                merged[field] = attrs[field]
            elif instance is not None:
                merged[field] = getattr(instance, field)
            else:
                merged[field] = Mailbox._meta.get_field(field).get_default()
        merged["imap_password"] = attrs.get("imap_password", "")
        if "interval_minutes" not in attrs and instance is None:
            merged["interval_minutes"] = Mailbox._meta.get_field("interval_minutes").default
        tenant_id = self.context["request"].user.tenant_id
        errors = mailbox_errors(merged, tenant_id=tenant_id, instance=instance)
        if errors:
            raise serializers.ValidationError(errors)
        if instance is not None and "sync_since" in attrs:
            raise serializers.ValidationError({"sync_since": [_repair_hint()]})
        return attrs

    def _apply(self, mailbox: Mailbox, attrs: dict[str, Any]) -> Mailbox:
        imap_password = attrs.pop("imap_password", "")
        smtp_password = attrs.pop("smtp_password", "")
        interval_given = "interval_minutes" in attrs
        interval = attrs.pop("interval_minutes", None)
        for key, value in attrs.items():
            setattr(mailbox, key, value)
        if interval_given:
            mailbox.set_interval(interval)
        if imap_password:
            mailbox.imap_password = imap_password
        if smtp_password:
            mailbox.smtp_password = smtp_password
        return mailbox

    def create(self, validated_data: dict[str, Any]) -> Mailbox:
        user: User = self.context["request"].user
        mailbox = Mailbox(tenant_id=user.tenant_id, sync_since=timezone.now())
        self._apply(mailbox, dict(validated_data))
        mailbox.save()
        mailbox.owner_users.add(user)
        audit.record(mailbox, user, AuditAction.CREATED)
        return mailbox

    def update(self, instance: Mailbox, validated_data: dict[str, Any]) -> Mailbox:
        before = audit.settings_snapshot(instance)
        self._apply(instance, dict(validated_data))
        instance.save()
        audit.record_settings_change(instance, self.context["request"].user, before)
        return instance


def _repair_hint() -> str:
    from django.utils.translation import gettext as _

    return _(
        "The synchronisation date of an existing mailbox changes only with 'repair synchronisation'."
    )


class ConnectionResultSerializer(serializers.Serializer):
    server = serializers.CharField()
    ok = serializers.BooleanField()
    code = serializers.CharField()
    message = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    organisation = serializers.SerializerMethodField()
    rights = serializers.ListField(child=serializers.CharField(), read_only=True)
    # One message for "does not exist" and "not yours", so IDs reveal nothing.
    default_mailbox = serializers.PrimaryKeyRelatedField(
        queryset=Mailbox.objects.all(),
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": _lazy("Mailbox not found.")},
    )

    class Meta:
        model = User
        fields = ["id", "email", "name", "organisation", "rights", "default_mailbox", "language"]
        read_only_fields = ["id", "email", "name", "organisation", "rights"]

    def get_organisation(self, user: User) -> dict[str, Any] | None:
        if user.organisation_id is None:
            return None
        return {"id": user.organisation_id, "name": user.organisation.name}

    def validate_default_mailbox(self, value: Mailbox | None) -> Mailbox | None:
        from django.utils.translation import gettext as _

        from postkamer.mailboxes.access import readable_mailboxes

        if value is not None and not readable_mailboxes(self.instance).filter(pk=value.pk).exists():
            raise serializers.ValidationError(_("Mailbox not found."))
        return value


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OwnerUserSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name")
    organisation = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "name", "organisation"]

    def get_organisation(self, user: User) -> dict[str, Any] | None:
        if user.organisation_id is None:
            return None
        return {"id": user.organisation_id, "name": user.organisation.name}


class WorkflowGroupSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = WorkflowGroup
        fields = ["id", "name", "member_count"]


class OwnersSerializer(serializers.Serializer):
    users = OwnerUserSerializer(many=True)
    groups = WorkflowGroupSerializer(many=True)


class OwnerAddSerializer(serializers.Serializer):
    """Exactly one of ``user`` and ``group``."""

    user = serializers.IntegerField(required=False, min_value=1)
    group = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from django.utils.translation import gettext as _

        if ("user" in attrs) == ("group" in attrs):
            raise serializers.ValidationError(_("Give either a user or a workflow group."))
        return attrs


class OrganisationSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    depth = serializers.IntegerField()

    class Meta:
        model = Organisation
        fields = ["id", "name", "parent", "depth"]


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()

    class Meta:
        model = MailboxAuditEntry
        fields = ["id", "at", "action", "actor", "detail", "text"]

    def get_actor(self, entry: MailboxAuditEntry) -> dict[str, Any] | None:
        if entry.actor_id is None and not entry.actor_name:
            return None
        return {"id": entry.actor_id, "name": entry.actor_name}

    def get_text(self, entry: MailboxAuditEntry) -> str:
        return audit.describe(entry)
