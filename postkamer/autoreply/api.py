"""REST: ``/api/v1/mailboxes/{id}/auto-reply/`` and its ``replies/`` (managers only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.api.base import BaseAPIView
from postkamer.api.permissions import EmailModule, MailboxInTenant
from postkamer.autoreply import actions
from postkamer.autoreply.models import MAX_INTERVAL_DAYS, AutoReply, Reason, State
from postkamer.autoreply.views import decision_row, decisions_for, status_text
from postkamer.mailboxes import access


class AutoReplySerializer(serializers.Serializer):
    """The automatic reply. In a PUT, a field left out keeps its value."""

    enabled = serializers.BooleanField(required=False)
    starts_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="ISO 8601; without an offset: Dutch time."
    )
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    subject = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="{original subject} is replaced by the subject of the message answered.",
    )
    body_html = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Sanitised when saved."
    )
    # No min_value here: the shared rule gives the message that names the field.
    interval_days = serializers.IntegerField(required=False, max_value=32767)
    active = serializers.BooleanField(
        read_only=True, help_text="On, and now lies within the start and end."
    )
    status = serializers.CharField(read_only=True, help_text="The same in one sentence.")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Every mistake at once: the fields' own errors and the rules across them.
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": [_("Send the settings as a JSON object.")]}
            )
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.read_only:
                continue
            primitive = field.get_value(data)
            if primitive is empty:
                continue
            try:
                values[name] = field.run_validation(primitive)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        state = actions.merged(self.context["config"], values)
        for name in errors:
            state[name] = None
        for name, messages in actions.settings_errors(state).items():
            errors.setdefault(name, messages)
        if errors:
            raise serializers.ValidationError(errors)
        return values


def _data(config: AutoReply) -> dict[str, Any]:
    now = timezone.now()
    data = {field: getattr(config, field) for field in actions.FIELDS}
    data.update(active=config.is_active(now), status=status_text(config, now))
    return AutoReplySerializer(data).data


class ReplySerializer(serializers.Serializer):
    """One judged message (schema only; the rows come from ``views.decision_row``)."""

    id = serializers.IntegerField()
    decided_at = serializers.DateTimeField()
    recipient = serializers.CharField(help_text="Where the reply goes: the envelope sender.")
    message = serializers.IntegerField(help_text="The message answered.")
    message_received_at = serializers.DateTimeField()
    message_subject = serializers.CharField(
        allow_null=True, help_text="Only for users who may read the mailbox."
    )
    subject = serializers.CharField(allow_null=True, help_text="The reply's subject (readers).")
    replied = serializers.BooleanField()
    state = serializers.ChoiceField(State.choices)
    state_label = serializers.CharField()
    reason = serializers.ChoiceField([("", ""), *Reason.choices])
    reason_label = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)
    error_code = serializers.CharField(help_text="Why sending failed, as a code.")
    error_label = serializers.CharField(
        help_text="The same in words, with the server's refusal per address."
    )


class AutoReplyView(BaseAPIView):
    """The mailbox's automatic reply (tab "Automatisch antwoord"); managers only."""

    permission_classes = [IsAuthenticated, EmailModule, MailboxInTenant]

    @extend_schema(responses=AutoReplySerializer)
    def get(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        return Response(_data(actions.current(mailbox)))

    @extend_schema(
        request=AutoReplySerializer,
        responses=AutoReplySerializer,
        description=(
            "Change the automatic reply; fields left out keep their value. The end must "
            f"lie after the start, interval_days is 1 to {MAX_INTERVAL_DAYS}, and a reply "
            "that is on needs a subject and a text. All mistakes are answered at once."
        ),
    )
    def put(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        config = actions.current(mailbox)
        body = AutoReplySerializer(data=request.data, context={"config": config})
        body.is_valid(raise_exception=True)
        saved = actions.do_save_auto_reply(mailbox, request.user, body.validated_data)
        return Response(_data(saved))


class RepliesPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AutoReplyRepliesView(BaseAPIView):
    """The replies the automatic reply sent (with ``all=1``: every message it judged,
    with the reason it did not answer), newest first."""

    permission_classes = [IsAuthenticated, EmailModule, MailboxInTenant]

    @extend_schema(
        responses=ReplySerializer(many=True),
        parameters=[
            OpenApiParameter("all", bool, description="Also messages that got no reply."),
            OpenApiParameter("page", int),
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        rows = decisions_for(
            mailbox, include_skipped=request.query_params.get("all") in ("1", "true")
        )
        paginator = RepliesPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        show_content = access.can_read(request.user, mailbox)
        items = [decision_row(decision, show_content=show_content) for decision in page or []]
        return paginator.get_paginated_response(ReplySerializer(items, many=True).data)
