"""REST API for the e-mail module: messages, and fetching now with its runs (SPEC §6)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.api.base import BaseAPIView, UserLanguageMixin
from postkamer.api.permissions import EmailModule
from postkamer.fetching import status as run_status
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mail.html import sanitize_html
from postkamer.mailboxes import access
from postkamer.messages import rawstore
from postkamer.messages.access import get_message
from postkamer.messages.models import Folder, Message

PERMISSIONS = [IsAuthenticated, EmailModule]


class MessageSerializer(serializers.ModelSerializer):
    # "from" is a Python keyword, so the API names are mapped here.
    to = serializers.JSONField(source="to_addresses", read_only=True)
    cc = serializers.JSONField(source="cc_addresses", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "mailbox",
            "folder",
            "message_id",
            "subject",
            "to",
            "cc",
            "date",
            "received_at",
            "has_attachments",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.JSONField(source="from_addresses", read_only=True)
        return fields


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class MessageDetailSerializer(MessageSerializer):
    text = serializers.CharField(read_only=True)
    html = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "text", "html", "attachments"]
        read_only_fields = fields

    def get_html(self, message: Message) -> str:
        # Sanitised on the way out as well: whatever the store holds, no script,
        # event handler or remote image reaches a browser through the API.
        return sanitize_html(message.html) if message.html else ""


def _folder_param(request: Request) -> str:
    folder = request.query_params.get("folder", Folder.INBOX)
    if folder not in Folder.values:
        raise ValidationError(
            {"folder": [_("Choose the folder inbox, junk or sent.")]},
        )
    return folder


class MailboxMessagesView(UserLanguageMixin, generics.ListAPIView):
    """The messages of one mailbox folder, newest first."""

    serializer_class = MessageSerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[OpenApiParameter("folder", enum=Folder.values, default=Folder.INBOX)]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        mailbox = access.get_mailbox(self.request.user, self.kwargs["pk"], access.READ)
        folder = _folder_param(self.request)
        return Message.objects.filter(mailbox=mailbox, folder=folder).order_by(
            "-received_at", "-pk"
        )


class FetchQueuedSerializer(serializers.Serializer):
    fetch_run = serializers.IntegerField()
    status_url = serializers.CharField()


class MailboxFetchView(BaseAPIView):
    """Queue a fetch now; owners may press the fetch button, so READ suffices."""

    permission_classes = PERMISSIONS

    @extend_schema(request=None, responses={202: FetchQueuedSerializer})
    def post(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.READ)
        run = request_fetch(mailbox, user=request.user, trigger=FetchRun.Trigger.BUTTON)
        return Response(
            {"fetch_run": run.pk, "status_url": run_status.status_url(run)},
            status=status.HTTP_202_ACCEPTED,
        )


class FetchRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mailbox = serializers.IntegerField()
    trigger = serializers.CharField()
    state = serializers.ChoiceField(choices=["queued", "running", "done", "failed", "skipped"])
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    ok = serializers.BooleanField(allow_null=True)
    new_messages = serializers.IntegerField()
    error_code = serializers.CharField()
    error = serializers.CharField()
    summary = serializers.CharField()


class FetchRunView(BaseAPIView):
    """The status of one fetch run, for whoever may read its mailbox."""

    permission_classes = PERMISSIONS

    @extend_schema(responses=FetchRunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = (
            FetchRun.objects.filter(mailbox__in=access.visible_mailboxes(request.user))
            .filter(pk=pk)
            .first()
        )
        if run is None:
            return Response({"detail": _("Fetch run not found.")}, status=404)
        access.get_mailbox(request.user, run.mailbox_id, access.READ)
        return Response(FetchRunSerializer(run_status.as_dict(run)).data)


class MessageDetailView(BaseAPIView):
    permission_classes = PERMISSIONS

    @extend_schema(responses=MessageDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        message = get_message(request.user, pk)
        return Response(MessageDetailSerializer(message).data)


class Rfc822Renderer(BaseRenderer):
    """Lets clients ask for ``Accept: message/rfc822``; errors still come as JSON text."""

    media_type = "message/rfc822"
    format = "eml"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # type: ignore[no-untyped-def]
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)


class MessageRawView(BaseAPIView):
    """The message exactly as fetched, as a .eml download."""

    permission_classes = PERMISSIONS
    renderer_classes = [JSONRenderer, Rfc822Renderer]

    @extend_schema(responses={(200, "message/rfc822"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponse:
        message = get_message(request.user, pk)
        response = HttpResponse(rawstore.read(message.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
        return response
