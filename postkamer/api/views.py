"""REST API /api/v1/: the mailbox resource (settings, owners, log, connection test,
IMAP folders, repair), the logs of deleted mailboxes, and the caller's own data.

Every change goes through ``mailboxes.actions``; every right through ``mailboxes.access``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.accounts.models import Organisation, User
from postkamer.api.base import BaseAPIView, BaseModelViewSet, UserLanguageMixin
from postkamer.api.messages import FetchQueuedSerializer
from postkamer.api.permissions import (
    EmailModule,
    HoldsEmailManager,
    MailboxInTenant,
    ManagesMailboxes,
)
from postkamer.api.serializers import (
    AuditEntrySerializer,
    ConnectionResultSerializer,
    DeletedMailboxSerializer,
    ImapFoldersSerializer,
    MailboxSerializer,
    MeSerializer,
    OrganisationSerializer,
    OwnerAddSerializer,
    OwnersSerializer,
    OwnerUserSerializer,
    RepairSyncSerializer,
    WorkflowGroupSerializer,
)
from postkamer.fetching import repair
from postkamer.fetching import status as run_status
from postkamer.mailboxes import access, actions, audit, folders, owners
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.models import Mailbox


class AuditPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class MailboxViewSet(BaseModelViewSet):
    """The tenant's mailboxes: managers see all, others the ones they own."""

    serializer_class = MailboxSerializer
    permission_classes = [IsAuthenticated, EmailModule, MailboxInTenant, ManagesMailboxes]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            # The schema generator has no user; it only needs the model for types.
            return Mailbox.objects.none()
        # The grant and the watch give the OAuth and "push" fields without a query per row.
        return (
            access.visible_mailboxes(self.request.user)
            .select_related("oauth_grant", "watch")
            .order_by("name")
        )

    def get_object(self) -> Mailbox:
        user = self.request.user
        method = self.request.method
        # Settings are read by managers and owners alike; changes need the right.
        if method in ManagesMailboxes.SAFE and not user.has_right("email_manager"):
            need = access.READ
        else:
            need = access.DELETE if method == "DELETE" else access.MANAGE
        mailbox = access.get_mailbox(user, self.kwargs["pk"], need)
        self.check_object_permissions(self.request, mailbox)
        return mailbox

    # Creating and updating go through the serializer to actions.do_create_mailbox
    # and do_update_mailbox.

    def perform_destroy(self, instance: Mailbox) -> None:
        actions.do_delete_mailbox(self.request.user, instance)

    def _owners_response(self, mailbox: Mailbox, status_code: int = 200) -> Response:
        current = owners.owners_of(mailbox)
        data = {
            "users": OwnerUserSerializer(current.users, many=True).data,
            "groups": WorkflowGroupSerializer(current.groups, many=True).data,
        }
        return Response(data, status=status_code)

    @extend_schema(methods=["GET"], responses=OwnersSerializer)
    @extend_schema(methods=["POST"], request=OwnerAddSerializer, responses={201: OwnersSerializer})
    @action(detail=True, methods=["get", "post"], url_path="owners")
    def owners(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Everyone with access; POST ``{user}`` or ``{group}`` adds one (docs/product.md, Public interfaces)."""
        mailbox = access.get_mailbox(request.user, pk, access.OWNERS)
        if request.method != "POST":
            return self._owners_response(mailbox)
        serializer = OwnerAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if "group" in data:
                # The right first: without it the group ID is not even looked at.
                access.check_right(request.user, access.GROUPS)
                group = owners.find_group(mailbox, data["group"])
                actions.do_link_group(request.user, mailbox, group)
            else:
                user = owners.find_user(mailbox, data["user"])
                actions.do_add_owner(request.user, mailbox, user)
        except Http404 as exc:
            # A bad ID in the body is a bad request, answered the same for unknown
            # IDs and other tenants' IDs.
            field = "group" if "group" in data else "user"
            raise ValidationError({field: [str(exc)]}) from None
        return self._owners_response(mailbox, status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=["user", "group"]),
            OpenApiParameter("owner_id", int, OpenApiParameter.PATH),
        ],
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"owners/(?P<kind>user|group)/(?P<owner_id>[0-9]+)",
        url_name="owner-remove",
    )
    def remove_owner(
        self,
        request: Request,
        pk: str | None = None,
        kind: str = "",
        owner_id: str = "",
        **kwargs: Any,
    ) -> Response:
        """Remove a direct owner or unlink a workflow group (idempotent)."""
        mailbox = access.get_mailbox(request.user, pk, access.OWNERS)
        if kind == "group":
            access.check_right(request.user, access.GROUPS)
            actions.do_unlink_group(request.user, mailbox, owners.find_group(mailbox, owner_id))
        else:
            actions.do_remove_owner(request.user, mailbox, owners.find_user(mailbox, owner_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=AuditEntrySerializer(many=True))
    @action(detail=True, methods=["get"], url_path="audit", pagination_class=AuditPagination)
    def audit(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The mailbox's audit log, newest first, paginated."""
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        entries = mailbox.audit_entries.all()
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: ConnectionResultSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        results = [r.as_dict() for r in run_connection_test(mailbox)]
        return Response({"ok": all(r["ok"] for r in results), "results": results})

    @extend_schema(responses=ImapFoldersSerializer)
    @action(detail=True, methods=["get"], url_path="imap-folders")
    def imap_folders(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The server's folders with their special-use flags (IMAP mappen ophalen)."""
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        listing = folders.read_folders(mailbox)
        if not listing.ok:
            # The server, not the request, is at fault (except an unreadable secret).
            code = 400 if listing.error_code == "secret_unreadable" else 502
            return Response({"detail": listing.error, "code": listing.error_code}, status=code)
        return Response(
            {
                "folders": [
                    {
                        "name": f.name,
                        "delimiter": f.delimiter,
                        "flags": list(f.flags),
                        "special_use": f.special_use,
                        "selectable": f.selectable,
                    }
                    for f in listing.folders
                ],
                "suggested": {
                    "sent": listing.suggested(folders.SENT),
                    "junk": listing.suggested(folders.JUNK),
                },
            }
        )

    @extend_schema(request=RepairSyncSerializer, responses={202: FetchQueuedSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="repair-sync",
        # Owners holding ``repair_sync`` may repair without managing the mailbox.
        permission_classes=[IsAuthenticated, EmailModule, MailboxInTenant],
    )
    def repair_sync(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Synchronisatie herstellen: the right ``repair_sync``, a moment and ``confirm``."""
        mailbox = access.get_mailbox(request.user, pk, access.REPAIR)
        serializer = RepairSyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        since = serializer.validated_data["since"]
        run = repair.request_repair(mailbox, since, user=request.user)
        return Response(
            {"fetch_run": run.pk, "status_url": run_status.status_url(run)},
            status=status.HTTP_202_ACCEPTED,
        )


class DeletedMailboxListView(BaseAPIView):
    """The office's deleted mailboxes, newest deletion first; their logs are kept."""

    permission_classes = [IsAuthenticated, EmailModule, HoldsEmailManager]

    @extend_schema(responses=DeletedMailboxSerializer(many=True))
    def get(self, request: Request) -> Response:
        deleted = audit.deleted_mailboxes(request.user.tenant_id)
        return Response(DeletedMailboxSerializer(deleted, many=True).data)


class DeletedMailboxAuditView(UserLanguageMixin, generics.GenericAPIView):
    """The log of one deleted mailbox (by its old ID), newest first, paginated."""

    permission_classes = [IsAuthenticated, EmailModule]
    pagination_class = AuditPagination
    serializer_class = AuditEntrySerializer

    @extend_schema(responses=AuditEntrySerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        entries = audit.deleted_mailbox_log(request.user.tenant_id, pk)
        if entries is None:
            # Unknown, not deleted, or another office's: one answer, before the right.
            raise NotFound(_("Mailbox not found."))
        access.check_right(request.user, access.MANAGE)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)


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


class OrganisationListView(BaseAPIView):
    permission_classes = [IsAuthenticated, EmailModule, HoldsEmailManager]

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Part of a name.")],
        responses=OrganisationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """The tenant's organisations as a tree (depth-first, with ``parent`` and ``depth``)."""
        search = request.query_params.get("search", "").strip()
        orgs = owners.tenant_organisations(request.user.tenant_id, search)
        return Response(OrganisationSerializer(orgs, many=True).data)


class OrganisationInTenant(BasePermission):
    """404 for another tenant's (or an unknown) organisation, before the right is checked."""

    def has_permission(self, request: Request, view: object) -> bool:
        pk = view.kwargs.get("pk")  # type: ignore[attr-defined]
        if not Organisation.objects.filter(tenant_id=request.user.tenant_id, pk=pk).exists():
            raise NotFound(_("Organisation not found."))
        return True


class OrganisationUsersView(BaseAPIView):
    permission_classes = [IsAuthenticated, EmailModule, OrganisationInTenant, HoldsEmailManager]

    @extend_schema(responses=OwnerUserSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        """The active users of one organisation of the caller's tenant."""
        org = Organisation.objects.filter(tenant_id=request.user.tenant_id, pk=pk).first()
        if org is None:
            raise NotFound(_("Organisation not found."))
        users = User.objects.filter(organisation=org, is_active=True).select_related("organisation")
        return Response(OwnerUserSerializer(users, many=True).data)


class WorkflowGroupListView(BaseAPIView):
    permission_classes = [IsAuthenticated, EmailModule, HoldsEmailManager]

    @extend_schema(responses=WorkflowGroupSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The tenant's workflow groups with their number of members."""
        groups = owners.tenant_groups(request.user.tenant_id).order_by("name")
        return Response(WorkflowGroupSerializer(groups, many=True).data)
