"""Beheer -> E-mailmanager: the list of mailboxes and the mailbox page."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from postkamer.fetching import repair
from postkamer.mailboxes import access
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.folders import missing_message, read_folders
from postkamer.mailboxes.forms import MailboxForm, RepairSyncForm
from postkamer.mailboxes.guards import email_manager_required, email_module_required
from postkamer.mailboxes.models import Mailbox, MailboxType


def _page(
    request: HttpRequest, form: MailboxForm, mailbox: Mailbox | None, **extra: object
) -> HttpResponse:
    """The mailbox page, with the repair section for users holding ``repair_sync``."""
    context: dict[str, object] = {"form": form, "mailbox": mailbox, **extra}
    if mailbox is not None and request.user.has_right("repair_sync"):
        context.setdefault("repair_form", RepairSyncForm())
    return render(request, "mailboxes/form.html", context)


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
        messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": mailbox.name})
        return redirect("mailbox-edit", pk=mailbox.pk)
    return render(request, "mailboxes/form.html", {"form": form, "mailbox": None})


@email_manager_required
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    form = MailboxForm(request.POST or None, instance=mailbox, tenant_id=request.user.tenant_id)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": mailbox.name})
        return redirect("mailbox-edit", pk=mailbox.pk)
    return _page(request, form, mailbox)


@email_manager_required
@require_POST
def mailbox_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    results = run_connection_test(mailbox)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"results": [r.as_dict() for r in results]})
    form = MailboxForm(instance=mailbox, tenant_id=request.user.tenant_id)
    return _page(request, form, mailbox, connection_results=results)


@email_manager_required
@require_POST
def mailbox_imap_folders(request: HttpRequest, pk: int) -> HttpResponse:
    """IMAP mappen ophalen: read the folders with the stored settings and offer them."""
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    if mailbox.type != MailboxType.IMAP:
        listing = None
        problems = [_("Office 365 mailboxes are read after connecting with Microsoft.")]
    else:
        listing = read_folders(mailbox)
        problems = [listing.error] if not listing.ok else []
        for name in (mailbox.sent_folder, mailbox.junk_folder):
            if listing.missing(name):
                problems.append(missing_message(name))
    form = MailboxForm(instance=mailbox, tenant_id=request.user.tenant_id, folder_listing=listing)
    return _page(
        request,
        form,
        mailbox,
        folders_read=bool(listing and listing.ok),
        folder_problems=problems,
    )


@email_module_required
@require_POST
def mailbox_repair_sync(request: HttpRequest, pk: int) -> HttpResponse:
    """Synchronisatie herstellen from the mailbox page (right ``repair_sync``)."""
    try:
        mailbox = access.visible_mailboxes(request.user).get(pk=pk)
    except Mailbox.DoesNotExist:
        raise Http404(_("Mailbox not found.")) from None
    repair.require_right(request.user)
    repair_form = RepairSyncForm(request.POST)
    if not repair_form.is_valid():
        if not request.user.has_right("email_manager"):
            # Only managers see the mailbox page; others get the reasons on the module page.
            for errors in repair_form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect(f"{reverse('email-module')}?mailbox={mailbox.pk}")
        form = MailboxForm(instance=mailbox, tenant_id=request.user.tenant_id)
        return _page(request, form, mailbox, repair_form=repair_form)
    since = repair_form.cleaned_data["since"]
    repair.request_repair(mailbox, since, user=request.user)
    messages.success(
        request,
        _("The synchronisation is repaired from %(since)s on; the fetch has been queued.")
        % {"since": timezone.localtime(since).strftime("%d-%m-%Y %H:%M")},
    )
    if request.user.has_right("email_manager"):
        return redirect("mailbox-edit", pk=mailbox.pk)
    return redirect(f"{reverse('email-module')}?mailbox={mailbox.pk}")


@email_manager_required
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    if request.method == "POST":
        name = mailbox.name
        mailbox.delete()
        messages.success(request, _("Mailbox '%(name)s' deleted.") % {"name": name})
        return redirect("mailbox-list")
    return render(request, "mailboxes/delete.html", {"mailbox": mailbox})
