"""REST API for writing mail: send, the mailbox template, the state of an outgoing message."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.api.base import BaseAPIView
from postkamer.api.permissions import EmailModule, MailboxInTenant
from postkamer.mailboxes import access
from postkamer.messages.models import Message
from postkamer.sending import actions, compose
from postkamer.sending import status as send_status
from postkamer.sending.models import FONT_SIZES, FONT_STACKS, OutgoingMessage

PERMISSIONS = [IsAuthenticated, EmailModule, MailboxInTenant]


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class Recipients(serializers.Field):
    """A list of addresses, or one text with commas ("Jan <jan@x.nl>, b@y.nl")."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return data
        raise serializers.ValidationError(_("Give a list of e-mail addresses."))

    def to_representation(self, value: Any) -> Any:
        return value


class SendSerializer(serializers.Serializer):
    to = Recipients(required=False, default=list)
    cc = Recipients(required=False, default=list)
    bcc = Recipients(required=False, default=list)
    subject = serializers.CharField(allow_blank=True, trim_whitespace=False)
    body_html = serializers.CharField(allow_blank=True, trim_whitespace=False)
    reply_to_message = serializers.IntegerField(required=False, allow_null=True)
    reply_all = serializers.BooleanField(required=False, default=False)
    forward_message = serializers.IntegerField(required=False, allow_null=True)
    signature = serializers.BooleanField(
        required=False, default=True, help_text="append the mailbox's signature"
    )


class SendStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mailbox = serializers.IntegerField()
    state = serializers.ChoiceField(choices=OutgoingMessage.State.values)
    label = serializers.CharField()
    description = serializers.CharField()
    error_code = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    queued_at = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    refused = serializers.DictField(child=serializers.IntegerField())
    message_id = serializers.CharField()
    sent_message = serializers.IntegerField(allow_null=True)
    in_sent_folder = serializers.BooleanField()
    status_url = serializers.CharField(required=False)


def _state(message: OutgoingMessage) -> dict[str, Any]:
    data = send_status.as_dict(message)
    data["status_url"] = reverse("api-outgoing", kwargs={"pk": message.pk})
    return data


def _original(mailbox_id: int, pk: int | None, field: str) -> Message | None:
    if pk is None:
        return None
    # Same answer for unknown IDs and other mailboxes' messages: a bad request.
    message = Message.objects.filter(pk=pk, mailbox_id=mailbox_id).first()
    if message is None:
        raise ValidationError({field: [_("No such message in this mailbox.")]})
    return message


class SendView(BaseAPIView):
    """Send a message from this mailbox (READ right); answers 202 with its state."""

    permission_classes = PERMISSIONS

    @extend_schema(request=SendSerializer, responses={202: SendStateSerializer})
    def post(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.READ)
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reply_to = _original(mailbox.pk, data.get("reply_to_message"), "reply_to_message")
        forward_of = _original(mailbox.pk, data.get("forward_message"), "forward_message")
        body = data["body_html"]
        if data["signature"]:
            body = compose.with_signature(mailbox, body)
        kind = None
        if reply_to is not None:
            kind = (
                OutgoingMessage.Kind.REPLY_ALL if data["reply_all"] else OutgoingMessage.Kind.REPLY
            )
        attachments = []
        if forward_of is not None:
            attachments = [
                actions.ForwardedPart(forward_of, a.part)
                for a in forward_of.attachments.filter(inline=False)
            ]
        try:
            message = actions.do_queue_message(
                mailbox,
                author=request.user,
                to=data["to"],
                cc=data["cc"],
                bcc=data["bcc"],
                subject=data["subject"],
                body_html=body,
                reply_to=reply_to,
                forward_of=forward_of,
                kind=kind,
                attachments=attachments,
            )
        except DjangoValidationError as exc:
            errors = exc.message_dict
            if "__all__" in errors:
                errors["non_field_errors"] = errors.pop("__all__")
            raise ValidationError(errors) from None
        message.refresh_from_db()
        return Response(_state(message), status=status.HTTP_202_ACCEPTED)


class OutgoingView(BaseAPIView):
    """The send state of one of the caller's own outgoing messages."""

    permission_classes = [IsAuthenticated, EmailModule]

    @extend_schema(responses=SendStateSerializer)
    def get(self, request: Request, pk: int) -> Response:
        message = (
            OutgoingMessage.objects.filter(
                author=request.user, mailbox__in=access.readable_mailboxes(request.user)
            )
            .filter(pk=pk)
            .first()
        )
        if message is None:
            raise NotFound(_("Message not found."))
        return Response(_state(message))


class TemplateSerializer(serializers.Serializer):
    font_family = serializers.CharField(help_text=", ".join(FONT_STACKS))
    font_size = serializers.IntegerField(help_text=", ".join(str(s) for s in FONT_SIZES))
    font_color = serializers.CharField(help_text="#RRGGBB")
    signature_html = serializers.CharField(allow_blank=True, required=False, default="")


class TemplateView(BaseAPIView):
    """Tab Template (MANAGE right); PUT is validated as a whole and audited."""

    permission_classes = PERMISSIONS

    def _answer(self, template: Any) -> Response:
        return Response(
            {
                "font_family": template.font_family,
                "font_size": template.font_size,
                "font_color": template.font_color,
                "signature_html": template.signature_html,
            }
        )

    @extend_schema(responses=TemplateSerializer)
    def get(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        return self._answer(actions.get_template(mailbox))

    @extend_schema(request=TemplateSerializer, responses=TemplateSerializer)
    def put(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            template = actions.do_set_template(
                mailbox,
                actor=request.user,
                font_family=data.get("font_family"),
                font_size=data.get("font_size"),
                font_color=data.get("font_color"),
                signature_html=data.get("signature_html", ""),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return self._answer(template)
