from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from postkamer.accounts.models import Organisation, User, WorkflowGroup
from postkamer.fetching import push, repair
from postkamer.mailboxes import actions, audit, oauth, oauth_views
from postkamer.mailboxes.models import (
    SETTINGS_FIELDS,
    Mailbox,
    MailboxAuditEntry,
    MailboxType,
    OAuthGrant,
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
# The sign-in of OAuth2 mailboxes: ``microsoft_*`` for Office 365 (null otherwise),
# ``oauth_*`` for Office 365 and Google alike (null for IMAP mailboxes).
OAUTH_FIELDS = [
    "microsoft_account",
    "microsoft_status",
    "oauth_account",
    "oauth_status",
    "oauth_connect_url",
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
    microsoft_account = serializers.SerializerMethodField()
    microsoft_status = serializers.SerializerMethodField()
    oauth_account = serializers.SerializerMethodField()
    oauth_status = serializers.SerializerMethodField()
    oauth_connect_url = serializers.SerializerMethodField()
    # How new mail is noticed: "idle" (the server reports it, IMAP IDLE), "polling"
    # (checked at the interval) or "off"; and since when (null when unknown).
    push = serializers.SerializerMethodField()
    push_since = serializers.SerializerMethodField()

    class Meta:
        model = Mailbox
        fields = [
            "id",
            *SETTINGS_FIELDS,
            "imap_password",
            "smtp_password",
            *STATUS_FIELDS,
            *OAUTH_FIELDS,
            "push",
            "push_since",
        ]
        read_only_fields = ["id", *STATUS_FIELDS]

    def _grant(self, mailbox: Mailbox) -> OAuthGrant | None:
        # The list prefetches it (select_related); None when there is none.
        try:
            return mailbox.oauth_grant
        except OAuthGrant.DoesNotExist:
            return None

    def get_oauth_status(self, mailbox: Mailbox) -> str | None:
        """``not_connected``, ``connected`` or ``reconnect_needed``; null for IMAP."""
        if not mailbox.uses_oauth:
            return None
        grant = self._grant(mailbox)
        return oauth.status(mailbox, grant) if grant else oauth.NOT_CONNECTED

    def get_oauth_account(self, mailbox: Mailbox) -> str | None:
        """The account that signed in (delegated); null when none."""
        grant = self._grant(mailbox)
        if not mailbox.uses_oauth or grant is None:
            return None
        return oauth.account(mailbox, grant) or None

    def get_oauth_connect_url(self, mailbox: Mailbox) -> str | None:
        """Open this in a browser (as a manager) to sign in for the mailbox."""
        url = oauth_views.connect_url(mailbox)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request is not None else url

    def get_microsoft_status(self, mailbox: Mailbox) -> str | None:
        if mailbox.type != MailboxType.OFFICE365:
            return None
        return self.get_oauth_status(mailbox)

    def get_microsoft_account(self, mailbox: Mailbox) -> str | None:
        if mailbox.type != MailboxType.OFFICE365:
            return None
        return self.get_oauth_account(mailbox)

    @extend_schema_field(serializers.ChoiceField(choices=["idle", "polling", "off"]))
    def get_push(self, mailbox: Mailbox) -> str:
        return push.status(mailbox)[0]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_push_since(self, mailbox: Mailbox) -> str | None:
        since = push.status(mailbox)[1]
        return serializers.DateTimeField().to_representation(since) if since else None

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Parse ``data`` and check the mailbox rules, reporting every problem at once.

        DRF stops after the fields' own errors and would only then run the rules
        that look at several fields (port ranges, the password-again rule…); here
        those rules run on every field that did parse, and both kinds of errors
        come back together, one list per field.
        """
        try:
            attrs = super().to_internal_value(data)
            errors: dict[str, Any] = {}
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            errors = dict(exc.detail)
            attrs = self._parsed_fields(data, skip=errors.keys())
        instance: Mailbox | None = self.instance
        tenant_id = instance.tenant_id if instance else self.context["request"].user.tenant_id
        rules = mailbox_errors(attrs, tenant_id=tenant_id, instance=instance)
        for field, messages in rules.items():
            errors.setdefault(field, messages)  # a field's own message says it already
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _parsed_fields(self, data: Any, skip: Any) -> dict[str, Any]:
        """The writable fields of ``data`` that parse, leaving out those in ``skip``."""
        parsed: dict[str, Any] = {}
        for field in self.fields.values():
            if field.read_only or field.field_name in skip:
                continue
            try:
                parsed[field.source] = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, DjangoValidationError, SkipField):
                continue
        return parsed

    def create(self, validated_data: dict[str, Any]) -> Mailbox:
        user: User = self.context["request"].user
        try:
            return actions.do_create_mailbox(user, user.tenant, validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None

    def update(self, instance: Mailbox, validated_data: dict[str, Any]) -> Mailbox:
        user: User = self.context["request"].user
        try:
            return actions.do_update_mailbox(user, instance, validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None


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


class DeletedMailboxSerializer(serializers.Serializer):
    """A deleted mailbox, from the audit entry that records its deletion."""

    id = serializers.IntegerField(source="mailbox_ref")
    name = serializers.CharField(source="mailbox_name")
    sender_address = serializers.SerializerMethodField()
    deleted_at = serializers.DateTimeField(source="at")
    deleted_by = serializers.SerializerMethodField()

    def get_sender_address(self, entry: MailboxAuditEntry) -> str:
        return str((entry.detail or {}).get("sender_address", ""))

    def get_deleted_by(self, entry: MailboxAuditEntry) -> dict[str, Any] | None:
        return AuditEntrySerializer().get_actor(entry)


class ImapFolderSerializer(serializers.Serializer):
    name = serializers.CharField()
    delimiter = serializers.CharField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())
    special_use = serializers.CharField(allow_null=True)
    selectable = serializers.BooleanField()


class ImapFoldersSerializer(serializers.Serializer):
    folders = ImapFolderSerializer(many=True)
    suggested = serializers.DictField(child=serializers.CharField(allow_null=True))


class RepairSyncSerializer(serializers.Serializer):
    """Both checks are the fields' own, so a request with both mistakes hears of both."""

    since = serializers.DateTimeField()
    confirm = serializers.BooleanField(default=False)

    def validate_since(self, value: Any) -> Any:
        problem = repair.since_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_confirm(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(repair.confirm_message())
        return value
