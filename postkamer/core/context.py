"""Template context for the top bar (module icons, the user's menu).

Here, above the domain apps, because the bar combines them: the account's
notifications and the e-mail module's default mailbox.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse


def email_module_url(mailbox_id: int | None) -> str:
    """Where the envelope leads: the e-mail module, opened on ``mailbox_id`` if given."""
    base = reverse("email-module")
    return f"{base}?mailbox={mailbox_id}" if mailbox_id else base


def topbar(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.tenant_id is None:
        return {}
    from postkamer.accounts.notifications import unread_count
    from postkamer.mailboxes.access import default_mailbox_problem

    problem = default_mailbox_problem(user)
    # Without a usable default the envelope still opens the module (which lists the
    # user's mailboxes); the red mark next to it says how to choose a default.
    return {
        "can_manage_email": user.has_right("email_manager"),
        "default_mailbox_problem": problem,
        "email_module_url": email_module_url(None if problem else user.default_mailbox_id),
        # Read at render time, so the notifications page (which marks them read) shows 0.
        "unread_notifications": unread_count(user),
    }
