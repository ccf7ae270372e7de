"""Template context for the top bar (module icons, the user's menu)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# The e-mail module's address until its view (URL name ``email-module``) exists.
EMAIL_MODULE_PATH = "/email/"


def email_module_url(mailbox_id: int) -> str:
    """Where the envelope leads: the e-mail module opened on ``mailbox_id``."""
    try:
        base = reverse("email-module")
    except NoReverseMatch:
        base = EMAIL_MODULE_PATH
    return f"{base}?mailbox={mailbox_id}"


def topbar(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.tenant_id is None:
        return {}
    from postkamer.accounts.notifications import unread_count
    from postkamer.mailboxes.access import default_mailbox_problem

    problem = default_mailbox_problem(user)
    # Without a usable default the envelope leads to where one is chosen.
    url = reverse("my-settings") if problem else email_module_url(user.default_mailbox_id)
    return {
        "can_manage_email": user.has_right("email_manager"),
        "default_mailbox_problem": problem,
        "email_module_url": url,
        # Read at render time, so the notifications page (which marks them read) shows 0.
        "unread_notifications": unread_count(user),
    }
