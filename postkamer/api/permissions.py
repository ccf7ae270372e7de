"""DRF permission classes: adapters that ask ``mailboxes.access``, where the rules live."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from postkamer.mailboxes import access


class EmailModule(BasePermission):
    """An office user whose tenant's edition includes the e-mail manager."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user.is_authenticated:
            return False
        problem = access.office_problem(user)
        if problem is not None:
            self.message = problem[1]
            return False
        return True


class MailboxInTenant(BasePermission):
    """On a mailbox's own URLs, outsiders get 404 before any other check.

    Every detail action (including ones added later) is covered: a user who may
    not see the mailbox learns nothing, not even that a right is missing. The
    view still asks ``access.get_mailbox`` for the precise right.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        pk = getattr(view, "kwargs", {}).get("pk")
        if pk is None:
            return True
        try:
            visible = access.visible_mailboxes(request.user).filter(pk=pk).exists()
        except (ValueError, TypeError):
            visible = False
        if not visible:
            raise NotFound(_("Mailbox not found."))
        return True


class ManagesMailboxes(BasePermission):
    """Changing mailboxes takes the right email_manager (reading does not)."""

    SAFE = ("GET", "HEAD", "OPTIONS")

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in self.SAFE:
            return True
        problem = access.right_problem(request.user, access.MANAGE)
        if problem is None:
            return True
        self.message = problem
        return False


class HoldsEmailManager(BasePermission):
    """Endpoints that serve the e-mail manager's pages as a whole (the owners tab's
    organisation tree, the logs of deleted mailboxes) take the right ``email_manager``."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if access.right_problem(request.user, access.MANAGE) is None:
            return True
        self.message = access.right_message()
        return False
