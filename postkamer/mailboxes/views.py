"""Beheer -> E-mailmanager: the list of mailboxes and the mailbox page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from postkamer.accounts.models import Organisation
from postkamer.dnschecks.services import with_security_error
from postkamer.fetching import repair
from postkamer.mailboxes import access, audit, owners
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.folders import missing_message, read_folders
from postkamer.mailboxes.forms import MailboxForm, RepairSyncForm
from postkamer.mailboxes.guards import (
    email_manager_required,
    email_module_required,
    mailbox_manager_required,
)
from postkamer.mailboxes.models import AuditAction, Mailbox, MailboxType
from postkamer.mailboxes.tabs import mailbox_tabs


def _page(
    request: HttpRequest, form: MailboxForm, mailbox: Mailbox | None, **extra: object
) -> HttpResponse:
    """The mailbox page, with the repair section for users holding ``repair_sync``."""
    context: dict[str, object] = {"form": form, "mailbox": mailbox, **extra}
    context.setdefault("tabs", mailbox_tabs(mailbox, "general"))
    if mailbox is not None and request.user.has_right("repair_sync"):
        context.setdefault("repair_form", RepairSyncForm())
    return render(request, "mailboxes/form.html", context)


@email_manager_required
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = with_security_error(access.manageable_mailboxes(request.user).order_by("name"))
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
    return render(request, "mailboxes/form.html", {"form": form, "mailbox": None, "tabs": []})


@mailbox_manager_required
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
    return _page(request, form, mailbox)


@mailbox_manager_required
@require_POST
def mailbox_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    results = run_connection_test(mailbox)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"results": [r.as_dict() for r in results]})
    form = MailboxForm(instance=mailbox, tenant_id=request.user.tenant_id)
    return _page(request, form, mailbox, connection_results=results)


@mailbox_manager_required
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


@mailbox_manager_required
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    if request.method == "POST":
        name = mailbox.name
        mailbox.delete()
        messages.success(request, _("Mailbox '%(name)s' deleted.") % {"name": name})
        return redirect("mailbox-list")
    return render(request, "mailboxes/delete.html", {"mailbox": mailbox})


# --- Tab Eigenaar -------------------------------------------------------------
# Works as plain GET/POST forms with a redirect; app.js submits the same forms with
# fetch() and the header below, and swaps in the returned panel instead.
_PARTIAL_HEADER = "X-Requested-With"


def _is_partial(request: HttpRequest) -> bool:
    return request.headers.get(_PARTIAL_HEADER) == "fetch"


def _owners_state(request: HttpRequest) -> tuple[str, str]:
    data = request.POST if request.method == "POST" else request.GET
    return data.get("org", "").strip(), data.get("q", "").strip()[:100]


def _owners_url(mailbox_pk: int, org: str, q: str) -> str:
    params = {k: v for k, v in (("org", org), ("q", q)) if v}
    url = reverse("mailbox-owners-tab", kwargs={"pk": mailbox_pk})
    return f"{url}?{urlencode(params)}" if params else url


def _render_owners(
    request: HttpRequest, mailbox: Mailbox, org: str, q: str, status_message: str = ""
) -> HttpResponse:
    user = request.user
    organisations = owners.tenant_organisations(mailbox.tenant_id, q)
    selected = None
    if org.isdigit():
        # Only the tenant's own organisations can be chosen; another ID shows nothing.
        selected = Organisation.objects.filter(tenant_id=mailbox.tenant_id, pk=org).first()
    current = owners.owners_of(mailbox)
    can_link = user.has_right("multi_user")
    context = {
        "mailbox": mailbox,
        "tabs": mailbox_tabs(mailbox, "owners"),
        "organisations": organisations,
        "selected_org": selected,
        "org_users": owners.tenant_users(mailbox)
        .filter(organisation=selected)
        .order_by("name", "email")
        if selected
        else [],
        "groups": owners.tenant_groups(mailbox.tenant_id).order_by("name") if can_link else [],
        "owners": current,
        "owner_user_ids": {u.pk for u in current.users},
        "owner_group_ids": {g.pk for g in current.groups},
        "can_link_groups": can_link,
        "q": q,
        "status_message": status_message,
    }
    template = "mailboxes/_owners_panel.html" if _is_partial(request) else "mailboxes/owners.html"
    return render(request, template, context)


@mailbox_manager_required
def mailbox_owners(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    org, q = _owners_state(request)
    return _render_owners(request, mailbox, org, q)


def _change_owners(request: HttpRequest, pk: int, adding: bool) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    org, q = _owners_state(request)
    actor = request.user
    if request.POST.get("group"):
        # The right first, so a refused user learns nothing about the group ID.
        access.check_group_linking(actor)
        group = owners.find_group(mailbox, request.POST["group"])
        if adding:
            owners.link_group(actor, mailbox, group)
            message = _("Workflow group %(name)s now has access.") % {"name": group.name}
        else:
            owners.unlink_group(actor, mailbox, group)
            message = _("Workflow group %(name)s no longer has access.") % {"name": group.name}
    else:
        target = owners.find_user(mailbox, request.POST.get("user"))
        if adding:
            owners.add_user(actor, mailbox, target)
            message = _("%(name)s now has access.") % {"name": target.display_name}
        else:
            owners.remove_user(actor, mailbox, target)
            message = _("%(name)s is no longer an owner.") % {"name": target.display_name}
    if _is_partial(request):
        return _render_owners(request, mailbox, org, q, status_message=message)
    messages.success(request, message)
    return redirect(_owners_url(mailbox.pk, org, q))


@mailbox_manager_required
@require_POST
def mailbox_owners_add(request: HttpRequest, pk: int) -> HttpResponse:
    return _change_owners(request, pk, adding=True)


@mailbox_manager_required
@require_POST
def mailbox_owners_remove(request: HttpRequest, pk: int) -> HttpResponse:
    return _change_owners(request, pk, adding=False)


@mailbox_manager_required
def mailbox_log(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    page = Paginator(mailbox.audit_entries.all(), 50).get_page(request.GET.get("page"))
    entries = [{"at": e.at, "text": audit.describe(e)} for e in page]
    return render(
        request,
        "mailboxes/log.html",
        {
            "mailbox": mailbox,
            "tabs": mailbox_tabs(mailbox, "log"),
            "entries": entries,
            "page": page,
        },
    )
