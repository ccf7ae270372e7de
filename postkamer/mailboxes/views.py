"""Beheer -> E-mailmanager: the list of mailboxes and the mailbox page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from postkamer.accounts.models import Organisation
from postkamer.mailboxes import access, actions, audit, extensions, oauth_views, owners
from postkamer.mailboxes.connection import run_connection_test
from postkamer.mailboxes.folders import missing_message, read_folders
from postkamer.mailboxes.forms import MailboxForm
from postkamer.mailboxes.guards import (
    email_manager_required,
    email_module_required,
    mailbox_manager_required,
)
from postkamer.mailboxes.models import Mailbox, MailboxAuditEntry
from postkamer.mailboxes.tabs import mailbox_tabs


def mailbox_page(
    request: HttpRequest, mailbox: Mailbox, form: MailboxForm | None = None, **extra: object
) -> HttpResponse:
    """The page of a saved mailbox: its settings and the sections other apps add
    (``extensions.page_sections``). ``extra`` goes into the page's context; a
    section's view passes its bound form here to show its errors."""
    if form is None:
        form = MailboxForm(instance=mailbox)
    context: dict[str, object] = {"form": form, "mailbox": mailbox, **extra}
    panel = oauth_views.panel(mailbox)
    context["oauth"] = panel
    if panel and panel["other_account"]:
        context["oauth_warning"] = oauth_views.other_account_warning(
            panel["account"], mailbox.sender_address
        )
    context.setdefault("tabs", mailbox_tabs(mailbox, "general"))
    context["sections"] = extensions.sections(request, mailbox, context)
    return render(request, "mailboxes/form.html", context)


@email_manager_required
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = extensions.marked(access.manageable_mailboxes(request.user).order_by("name"))
    return render(
        request,
        "mailboxes/list.html",
        {
            "mailboxes": mailboxes,
            "marks": [m.template for m in extensions.list_marks],
            "stylesheets": sorted({m.stylesheet for m in extensions.list_marks if m.stylesheet}),
            "has_deleted": audit.deleted_mailboxes(request.user.tenant_id).exists(),
        },
    )


@email_manager_required
def mailbox_create(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None, tenant_id=request.user.tenant_id)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = actions.do_create_mailbox(request.user, request.user.tenant, form.settings())
        except ValidationError as error:
            form.show_errors(error)
        else:
            messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": mailbox.name})
            return redirect("mailbox-edit", pk=mailbox.pk)
    return render(request, "mailboxes/form.html", {"form": form, "mailbox": None, "tabs": []})


@mailbox_manager_required
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    form = MailboxForm(request.POST or None, instance=mailbox)
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = actions.do_update_mailbox(request.user, mailbox, form.settings())
            except ValidationError as error:
                form.show_errors(error)
            else:
                messages.success(request, _("Mailbox '%(name)s' saved.") % {"name": saved.name})
                return redirect("mailbox-edit", pk=saved.pk)
        # Validating wrote the posted values onto the instance in memory; the page's
        # heading and sections show the mailbox as stored.
        mailbox.refresh_from_db()
    return mailbox_page(request, mailbox, form)


@mailbox_manager_required
@require_POST
def mailbox_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    results = run_connection_test(mailbox)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"results": [r.as_dict() for r in results]})
    return mailbox_page(request, mailbox, connection_results=results)


@mailbox_manager_required
@require_POST
def mailbox_imap_folders(request: HttpRequest, pk: int) -> HttpResponse:
    """IMAP mappen ophalen: read the folders with the stored settings and offer them."""
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    listing = read_folders(mailbox)
    problems = [listing.error] if not listing.ok else []
    for name in (mailbox.sent_folder, mailbox.junk_folder):
        if listing.missing(name):
            problems.append(missing_message(name))
    form = MailboxForm(instance=mailbox, folder_listing=listing)
    return mailbox_page(
        request,
        mailbox,
        form,
        folders_read=bool(listing and listing.ok),
        folder_problems=problems,
    )


@mailbox_manager_required
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.DELETE)
    if request.method == "POST":
        name = mailbox.name
        actions.do_delete_mailbox(request.user, mailbox)
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
    can_link = access.right_problem(user, access.GROUPS) is None
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
    mailbox = access.get_mailbox(request.user, pk, access.OWNERS)
    org, q = _owners_state(request)
    actor = request.user
    if request.POST.get("group"):
        # The right first, so a refused user learns nothing about the group ID.
        access.check_right(actor, access.GROUPS)
        group = owners.find_group(mailbox, request.POST["group"])
        if adding:
            actions.do_link_group(actor, mailbox, group)
            message = _("Workflow group %(name)s now has access.") % {"name": group.name}
        else:
            actions.do_unlink_group(actor, mailbox, group)
            message = _("Workflow group %(name)s no longer has access.") % {"name": group.name}
    else:
        target = owners.find_user(mailbox, request.POST.get("user"))
        if adding:
            actions.do_add_owner(actor, mailbox, target)
            message = _("%(name)s now has access.") % {"name": target.display_name}
        else:
            actions.do_remove_owner(actor, mailbox, target)
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


def _log_context(request: HttpRequest, entries: QuerySet[MailboxAuditEntry]) -> dict[str, object]:
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return {"entries": [{"at": e.at, "text": audit.describe(e)} for e in page], "page": page}


@mailbox_manager_required
def mailbox_log(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    context = {"mailbox": mailbox, "tabs": mailbox_tabs(mailbox, "log")}
    context.update(_log_context(request, mailbox.audit_entries.all()))
    return render(request, "mailboxes/log.html", context)


# --- Deleted mailboxes: their logs stay readable for the office's managers -----


@email_manager_required
def deleted_list(request: HttpRequest) -> HttpResponse:
    deleted = audit.deleted_mailboxes(request.user.tenant_id)
    return render(request, "mailboxes/deleted_list.html", {"deleted": deleted})


@email_module_required
def deleted_log(request: HttpRequest, pk: int) -> HttpResponse:
    entries = audit.deleted_mailbox_log(request.user.tenant_id, pk)
    if entries is None:
        # Unknown, still there, or another office's: one answer, before the right.
        raise Http404(_("Mailbox not found."))
    access.check_right(request.user, access.MANAGE)
    context = {"name": entries.first().mailbox_name, "ref": pk}
    context.update(_log_context(request, entries))
    return render(request, "mailboxes/deleted_log.html", context)
