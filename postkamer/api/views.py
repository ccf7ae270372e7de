"""REST API /api/v1/ (SPEC §6)."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.api.base import BaseAPIView, BaseModelViewSet
from postkamer.api.permissions import EmailModule, ManagesMailboxes
from postkamer.api.serializers import ConnectionResultSerializer, MailboxSerializer, MeSerializer
from postkamer.mailboxes import access
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.models import Mailbox


class MailboxViewSet(BaseModelViewSet):
    """The tenant's mailboxes: managers see all, others the ones they own."""

    serializer_class = MailboxSerializer
    permission_classes = [IsAuthenticated, EmailModule, ManagesMailboxes]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return access.visible_mailboxes(self.request.user).order_by("name")

    def get_object(self) -> Mailbox:
        user = self.request.user
        # Settings are read by managers and owners alike; changes need the right.
        if self.request.method in ManagesMailboxes.SAFE and not user.has_right("email_manager"):
            need = access.READ
        else:
            need = access.MANAGE
        mailbox = access.get_mailbox(user, self.kwargs["pk"], need)
        self.check_object_permissions(self.request, mailbox)
        return mailbox

    def perform_create(self, serializer: MailboxSerializer) -> None:
        with transaction.atomic():
            serializer.save()

    @extend_schema(request=None, responses={200: ConnectionResultSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, pk: str | None = None) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        results = [r.as_dict() for r in run_connection_test(mailbox)]
        return Response({"ok": all(r["ok"] for r in results), "results": results})


class MeView(BaseAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        access.default_mailbox_problem(request.user)  # clears a dangling default
        return Response(MeSerializer(request.user, context={"request": request}).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = MeSerializer(
            request.user, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_200_OK)
