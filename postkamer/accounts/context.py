"""Template context for the top bar (module icons, the user's menu)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def topbar(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.tenant_id is None:
        return {}
    from postkamer.accounts.notifications import unread_count
    from postkamer.mailboxes.access import default_mailbox_problem

    return {
        "can_manage_email": user.has_right("email_manager"),
        "default_mailbox_problem": default_mailbox_problem(user),
        # Read at render time, so the notifications page (which marks them read) shows 0.
        "unread_notifications": unread_count(user),
    }
