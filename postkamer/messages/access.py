"""Who may open a stored message: whoever may read its mailbox (mailboxes.access)."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _

from postkamer.accounts.models import User
from postkamer.mailboxes import access
from postkamer.messages.models import Message


def get_message(user: User, pk: object) -> Message:
    """Return message ``pk`` when ``user`` may read its mailbox.

    Raises Http404 for messages of mailboxes the user cannot see at all (other
    tenant, unknown ID) and PermissionDenied for a manager who is no owner.
    """
    try:
        message = (
            Message.objects.select_related("mailbox")
            .filter(mailbox__in=access.visible_mailboxes(user))
            .get(pk=pk)
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Http404(_("Message not found.")) from None
    access.get_mailbox(user, message.mailbox_id, access.READ)
    return message
