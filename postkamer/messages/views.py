"""The e-mail module: mailboxes left, their messages right, and the fetch button."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from postkamer.fetching import status
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes import access
from postkamer.mailboxes.guards import email_module_required
from postkamer.messages.models import Folder, Message

PAGE_SIZE = 50


def _folder(value: str | None) -> str:
    # An unknown tab is not worth an error page: show the inbox.
    return value if value in Folder.values else Folder.INBOX


def module_url(mailbox_id: int, folder: str = Folder.INBOX) -> str:
    """The e-mail module showing ``folder`` of mailbox ``mailbox_id``."""
    return f"{reverse('email-module')}?{urlencode({'mailbox': mailbox_id, 'folder': folder})}"


@email_module_required
def email_module(request: HttpRequest) -> HttpResponse:
    user = request.user
    mailboxes = list(access.readable_mailboxes(user).order_by("name"))
    folder = _folder(request.GET.get("folder"))
    selected = None
    if request.GET.get("mailbox"):
        # Same rule as everywhere: 404 for strangers, 403 for managers who are no owner.
        selected = access.get_mailbox(user, request.GET["mailbox"], access.READ)
    elif mailboxes:
        by_id = {m.pk: m for m in mailboxes}
        selected = by_id.get(user.default_mailbox_id) or mailboxes[0]

    context: dict[str, object] = {
        "mailboxes": mailboxes,
        "selected": selected,
        "folder": folder,
        "folders": Folder.choices,
    }
    if selected is not None:
        messages = (
            Message.objects.filter(mailbox=selected, folder=folder)
            .only(
                "pk",
                "subject",
                "problems",
                "from_addresses",
                "to_addresses",
                "date",
                "received_at",
                "has_attachments",
            )
            .order_by("-received_at", "-pk")
        )
        page = Paginator(messages, PAGE_SIZE).get_page(request.GET.get("page"))
        run = status.latest_run(selected)
        context.update(
            {
                "page": page,
                "run": run,
                "run_state": status.state(run) if run else None,
                "run_summary": status.summary(run),
                "run_status_url": status.status_url(run) if run else "",
            }
        )
    return render(request, "messages/module.html", context)


@email_module_required
@require_POST
def fetch_now(request: HttpRequest, pk: int) -> HttpResponse:
    """The fetch button: queue a fetch (owners may press it) and go back."""
    mailbox = access.get_mailbox(request.user, pk, access.READ)
    run = request_fetch(mailbox, user=request.user, trigger=FetchRun.Trigger.BUTTON)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"fetch_run": run.pk, "status_url": status.status_url(run)}, status=202)
    return redirect(module_url(mailbox.pk, _folder(request.POST.get("folder"))))
