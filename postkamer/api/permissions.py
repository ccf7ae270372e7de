from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from postkamer.mailboxes.guards import edition_message, right_message


class EmailModule(BasePermission):
    """An office user whose tenant's edition includes the e-mail manager."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user.is_authenticated or user.tenant_id is None:
            self.message = "Only office users can use this API."
            return False
        if not user.tenant.has_email_manager:
            self.message = edition_message()
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
        from postkamer.mailboxes.access import visible_mailboxes

        try:
            visible = visible_mailboxes(request.user).filter(pk=pk).exists()
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
        if request.user.has_right("email_manager"):
            return True
        self.message = right_message()
        return False
