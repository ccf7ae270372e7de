"""REST API for the e-mail module: messages, and fetching now with its runs (docs/product.md, Public interfaces)."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
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
from postkamer.messages import downloads, readstate, sendstate
from postkamer.messages.access import get_message
from postkamer.messages.forms import SearchForm
from postkamer.messages.models import Folder, Message

PERMISSIONS = [IsAuthenticated, EmailModule]


class MessageSerializer(serializers.ModelSerializer):
    # "from" is a Python keyword, so the API names are mapped here.
    to = serializers.JSONField(source="to_addresses", read_only=True)
    cc = serializers.JSONField(source="cc_addresses", read_only=True)
    # For the caller: read state is per person (annotated by readstate.with_read).
    read = serializers.BooleanField(source="is_read", read_only=True)

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
            "read",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.JSONField(source="from_addresses", read_only=True)
        return fields


class AttachmentSerializer(serializers.Serializer):
    """One attachment; its download is ``messages/{id}/attachments/{n}/`` with ``n``
    its position in the list (from 0)."""

    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    inline = serializers.BooleanField()
    content_id = serializers.CharField()


class MessageDetailSerializer(MessageSerializer):
    text = serializers.CharField(read_only=True)
    html = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)
    send_state = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "text", "html", "attachments", "send_state"]
        read_only_fields = fields

    def get_html(self, message: Message) -> str:
        # Sanitised on the way out as well: whatever the store holds, no script,
        # event handler or remote image reaches a browser through the API.
        return sanitize_html(message.html) if message.html else ""

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_send_state(self, message: Message) -> dict[str, object] | None:
        return sendstate.send_state(message)


class MessageReadSerializer(serializers.Serializer):
    read = serializers.BooleanField()


def _folder_param(request: Request) -> str:
    folder = request.query_params.get("folder", Folder.INBOX)
    if folder not in Folder.values:
        raise ValidationError(
            {"folder": [_("Choose the folder inbox, junk or sent.")]},
        )
    return folder


class MailboxMessagesView(UserLanguageMixin, generics.ListAPIView):
    """The messages of one mailbox folder, newest first; ``q`` searches sender,
    recipients, subject and body. Listing never marks anything read."""

    serializer_class = MessageSerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[
            OpenApiParameter("folder", enum=Folder.values, default=Folder.INBOX),
            OpenApiParameter("q", str, description="words that must all occur (as prefixes)"),
            OpenApiParameter("attachments", bool, description="only messages with attachments"),
            OpenApiParameter("since", OpenApiTypes.DATE, description="received on or after"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="received on or before"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        mailbox = access.get_mailbox(self.request.user, self.kwargs["pk"], access.READ)
        errors: dict[str, Any] = {}
        try:
            folder = _folder_param(self.request)
        except ValidationError as error:
            errors.update(error.detail)  # type: ignore[arg-type]
            folder = Folder.INBOX
        form = SearchForm(self.request.query_params)
        if not form.is_valid():
            errors.update(form.errors)
        if errors:
            # Every mistake at once, in the caller's language.
            raise ValidationError(errors)
        messages = form.apply(Message.objects.filter(mailbox=mailbox, folder=folder))
        # The list shows no bodies: leave them in the database.
        messages = messages.defer("text", "html", "references", "problems")
        return messages.order_by("-received_at", "-pk")

    def paginate_queryset(self, queryset):  # type: ignore[no-untyped-def]
        page = super().paginate_queryset(queryset)
        return None if page is None else readstate.flag_read(self.request.user, page)


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
    """One message with its attachments, ``read`` and ``send_state``; PATCH ``{read}``.

    GET does not mark the message read (the module's page does); PATCH does.
    """

    permission_classes = PERMISSIONS

    def _answer(self, message: Message) -> Response:
        message.is_read = readstate.is_read(self.request.user, message)
        return Response(MessageDetailSerializer(message).data)

    @extend_schema(responses=MessageDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return self._answer(get_message(request.user, pk))

    @extend_schema(request=MessageReadSerializer, responses=MessageDetailSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        message = get_message(request.user, pk)
        serializer = MessageReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["read"]:
            readstate.do_mark_read(request.user, message)
        else:
            readstate.do_mark_unread(request.user, message)
        return self._answer(message)


class AnyRenderer(BaseRenderer):
    """Lets clients ask for any type of download; errors still come as JSON text."""

    media_type = "*/*"
    format = "bin"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # type: ignore[no-untyped-def]
        return JSONRenderer().render(data)


class MessageAttachmentView(BaseAPIView):
    """Attachment ``n`` (its position in ``attachments``, from 0) as a download."""

    permission_classes = PERMISSIONS
    renderer_classes = [JSONRenderer, AnyRenderer]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int, n: int) -> StreamingHttpResponse:
        return downloads.attachment_response(get_message(request.user, pk), n)


class Rfc822Renderer(BaseRenderer):
    """Lets clients ask for ``Accept: message/rfc822``; errors still come as JSON text."""

    media_type = "message/rfc822"
    format = "eml"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # type: ignore[no-untyped-def]
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)


class MessageRawView(BaseAPIView):
    """The message exactly as fetched, as a .eml download (streamed)."""

    permission_classes = PERMISSIONS
    renderer_classes = [JSONRenderer, Rfc822Renderer]

    @extend_schema(responses={(200, "message/rfc822"): bytes})
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        return downloads.raw_response(get_message(request.user, pk))
