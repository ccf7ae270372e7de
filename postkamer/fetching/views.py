"""Synchronisatie herstellen from the mailbox page: the section it adds to that page
(registered in ``apps.py``) and the view its form posts to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from postkamer.fetching import push, repair
from postkamer.fetching.forms import RepairSyncForm
from postkamer.mailboxes import access
from postkamer.mailboxes.guards import email_module_required
from postkamer.mailboxes.models import Mailbox
from postkamer.mailboxes.views import mailbox_page


def repair_section(
    request: HttpRequest, mailbox: Mailbox, page: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The repair section's variables, for users holding ``repair_sync`` only."""
    if access.right_problem(request.user, access.REPAIR) is not None:
        return None
    return {"form": page.get("repair_form") or RepairSyncForm()}


def push_section(
    request: HttpRequest, mailbox: Mailbox, page: Mapping[str, Any]
) -> dict[str, Any] | None:
    """How new mail of this mailbox is noticed (see ``push.status``)."""
    state, since = push.status(mailbox)
    return {
        "push": state,
        "since": since,
        "interval": mailbox.interval_minutes or 0,
        "reason": push.reason(mailbox) if state == push.POLLING else "",
    }


def _module_url(mailbox: Mailbox) -> str:
    return f"{reverse('email-module')}?mailbox={mailbox.pk}"


@email_module_required
@require_POST
def mailbox_repair_sync(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the new synchronisation moment and queue the repair fetch."""
    mailbox = access.get_mailbox(request.user, pk, access.REPAIR)
    form = RepairSyncForm(request.POST)
    manager = request.user.has_right("email_manager")
    if not form.is_valid():
        if not manager:
            # Only managers see the mailbox page; others get the reasons on the module page.
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect(_module_url(mailbox))
        return mailbox_page(request, mailbox, repair_form=form)
    since = form.cleaned_data["since"]
    repair.request_repair(mailbox, since, user=request.user)
    messages.success(
        request,
        _("The synchronisation is repaired from %(since)s on; the fetch has been queued.")
        % {"since": timezone.localtime(since).strftime("%d-%m-%Y %H:%M")},
    )
    return redirect("mailbox-edit", pk=mailbox.pk) if manager else redirect(_module_url(mailbox))
