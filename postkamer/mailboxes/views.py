"""Beheer -> E-mailmanager: the list of mailboxes and the mailbox page."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from postkamer.mailboxes import access, audit
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.forms import MailboxForm
from postkamer.mailboxes.guards import email_manager_required
from postkamer.mailboxes.models import AuditAction


@email_manager_required
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = access.manageable_mailboxes(request.user).order_by("name")
    return render(request, "mailboxes/list.html", {"mailboxes": mailboxes})


@email_manager_required
def mailbox_create(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None, tenant_id=request.user.tenant_id)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            mailbox = form.save()
            # The creator becomes an owner, so the new mailbox is readable at once;
            # the owners tab can take that away again.
            mailbox.owner_users.add(request.user)
            audit.record(mailbox, request.user, AuditAction.CREATED)
        messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": mailbox.name})
        return redirect("mailbox-edit", pk=mailbox.pk)
    return render(request, "mailboxes/form.html", {"form": form, "mailbox": None})


@email_manager_required
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    form = MailboxForm(request.POST or None, instance=mailbox, tenant_id=request.user.tenant_id)
    before = audit.settings_snapshot(mailbox)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            audit.record_settings_change(mailbox, request.user, before)
        messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": mailbox.name})
        return redirect("mailbox-edit", pk=mailbox.pk)
    return render(request, "mailboxes/form.html", {"form": form, "mailbox": mailbox})


@email_manager_required
@require_POST
def mailbox_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    results = run_connection_test(mailbox)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"results": [r.as_dict() for r in results]})
    form = MailboxForm(instance=mailbox, tenant_id=request.user.tenant_id)
    return render(
        request,
        "mailboxes/form.html",
        {"form": form, "mailbox": mailbox, "connection_results": results},
    )


@email_manager_required
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    if request.method == "POST":
        name = mailbox.name
        mailbox.delete()
        messages.success(request, _("Mailbox '%(name)s' deleted.") % {"name": name})
        return redirect("mailbox-list")
    return render(request, "mailboxes/delete.html", {"mailbox": mailbox})
