"""The writing half of the e-mail module: compose, drafts, the outbox, Tab Template.

Every page works as plain forms; ``static/postkamer/sending.js`` adds the editor,
autosave (with a copy in ``localStorage`` until the server confirmed it), uploads
and address suggestions, asking the same URLs for JSON (``Accept: application/json``).

Who sees what: composing and sending take the right to READ the mailbox
(``access.get_mailbox``). A draft, and a message in the outbox, is visible to its
author only: it is unfinished personal work, and colleagues see the message once it
is sent, under Verzonden, like every other reader of the mailbox.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from postkamer.mail.html import sanitize_outgoing_html
from postkamer.mailboxes import access
from postkamer.mailboxes.guards import email_module_required, mailbox_manager_required
from postkamer.mailboxes.models import Mailbox
from postkamer.mailboxes.tabs import mailbox_tabs
from postkamer.messages.access import get_message
from postkamer.messages.models import Message
from postkamer.sending import actions, addresses, compose, status
from postkamer.sending.models import FONT_SIZES, FONT_STACKS, OutgoingMessage

Kind = OutgoingMessage.Kind
State = OutgoingMessage.State
#: Sent messages stay in the outbox list this long, to see that they went.
OUTBOX_SENT_DAYS = 7


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def get_outgoing(user: Any, pk: object) -> OutgoingMessage:
    """The user's own outgoing message ``pk`` in a mailbox they may still read;
    Http404 otherwise (another author's draft is not even confirmed to exist)."""
    try:
        return (
            OutgoingMessage.objects.select_related("mailbox")
            .filter(author=user, mailbox__in=access.readable_mailboxes(user))
            .get(pk=pk)
        )
    except (OutgoingMessage.DoesNotExist, ValueError, TypeError):
        raise Http404(_("Message not found.")) from None


def _epoch_ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def _attachment_rows(draft: OutgoingMessage | None) -> list[dict[str, Any]]:
    if draft is None or draft.pk is None:
        return []
    return [
        {"id": a.pk, "filename": a.filename, "size": a.size, "forwarded": a.blob_id is None}
        for a in draft.attachments.all()
    ]


def _draft_json(draft: OutgoingMessage, status_code: int = 200) -> JsonResponse:
    return JsonResponse(
        {
            "id": draft.pk,
            "url": reverse("sending-edit", kwargs={"pk": draft.pk}),
            "updated": _epoch_ms(draft.updated_at),
            "state": draft.state,
            "attachments": _attachment_rows(draft),
            "attachments_size": actions.attachments_size(draft),
        },
        status=status_code,
    )


def _errors_json(error: ValidationError, status_code: int = 400) -> JsonResponse:
    return JsonResponse({"errors": error.message_dict}, status=status_code)


def _not_editable(request: HttpRequest, draft: OutgoingMessage) -> HttpResponse:
    text = _("This message is already being sent and can no longer be changed.")
    if _wants_json(request):
        return JsonResponse({"detail": text, "state": draft.state}, status=409)
    messages.error(request, text)
    return redirect("sending-outbox")


def _form_values(request: HttpRequest) -> dict[str, str]:
    post = request.POST
    return {name: post.get(name, "") for name in ("to", "cc", "bcc", "subject", "body_html")}


def _uploads(request: HttpRequest) -> list[actions.NewFile]:
    return [
        actions.NewFile(f.name, f.content_type or "application/octet-stream", f.read())
        for f in request.FILES.getlist("files")
    ]


def _page(
    request: HttpRequest,
    *,
    mailbox: Mailbox,
    draft: OutgoingMessage | None,
    values: dict[str, Any],
    kind: str,
    reply_to: Message | None,
    forward_of: Message | None,
    client_key: str,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> HttpResponse:
    template = actions.get_template(mailbox)
    forwarded = []
    if draft is None and forward_of is not None:
        forwarded = list(forward_of.attachments.filter(inline=False))
    context = {
        "mailbox": mailbox,
        "mailboxes": access.readable_mailboxes(request.user).order_by("name"),
        "draft": draft,
        "values": values,
        "body_html": sanitize_outgoing_html(values.get("body_html", "")),
        "kind": kind,
        "reply_to": reply_to,
        "forward_of": forward_of,
        "client_key": client_key,
        "errors": errors or {},
        "general_errors": [
            *(errors or {}).get("__all__", []),
            *(errors or {}).get("attachments", []),
            *(errors or {}).get("extra_headers", []),
        ],
        "template": template,
        "attachments": _attachment_rows(draft),
        "forwarded": forwarded,
        "limit_bytes": actions.max_attachment_bytes(),
        "limit_text": actions.limit_text(),
        "used_bytes": actions.attachments_size(draft) if draft else 0,
        "status_text": status.describe(draft) if draft and draft.state != State.DRAFT else "",
        "updated_ms": _epoch_ms(draft.updated_at) if draft else 0,
        "save_url": (
            reverse("sending-edit", kwargs={"pk": draft.pk}) if draft else request.get_full_path()
        ),
    }
    return render(request, "sending/compose.html", context, status=status_code)


def _save_and_maybe_send(
    request: HttpRequest,
    mailbox: Mailbox,
    draft: OutgoingMessage | None,
    *,
    kind: str,
    reply_to: Message | None,
    forward_of: Message | None,
    client_key: str,
) -> HttpResponse:
    values = _form_values(request)
    try:
        draft = actions.do_save_draft(
            mailbox,
            author=request.user,
            draft=draft,
            client_key=client_key,
            kind=kind,
            reply_to=reply_to,
            forward_of=forward_of,
            **{k: values[k] for k in ("to", "cc", "bcc", "subject", "body_html")},
        )
    except actions.NotEditable:
        assert draft is not None
        return _not_editable(request, draft)
    errors: dict[str, list[str]] = {}
    try:
        if request.FILES:
            actions.do_add_attachments(draft, _uploads(request))
        if request.POST.get("remove_attachment", "").isdigit():
            actions.do_remove_attachment(draft, int(request.POST["remove_attachment"]))
        if request.POST.get("action") == "send":
            draft = actions.do_queue_draft(draft)
    except ValidationError as exc:
        errors = exc.message_dict
    if _wants_json(request):
        return _errors_json(ValidationError(errors)) if errors else _draft_json(draft)
    if errors:
        return _page(
            request,
            mailbox=mailbox,
            draft=draft,
            values=values,
            kind=kind,
            reply_to=reply_to,
            forward_of=forward_of,
            client_key=draft.client_key,
            errors=errors,
            status_code=400,
        )
    if draft.state in (State.QUEUED, State.SENDING, State.SENT):
        messages.success(request, _("The message is being sent."))
        return redirect(f"{reverse('sending-outbox')}?sent={draft.pk}")
    messages.success(request, _("Draft saved."))
    return redirect("sending-edit", pk=draft.pk)


def _mode(value: str | None) -> str:
    return value if value in compose.MODES else Kind.REPLY


@email_module_required
def compose_view(request: HttpRequest) -> HttpResponse:
    """New message (``?mailbox=ID``), or ``?reply_to=MESSAGE&mode=reply|reply_all|forward``.

    GET shows the form without saving anything; the first save (autosave or a
    button) creates the draft, found again by ``client_key`` when repeated.
    """
    user = request.user
    original = None
    kind = Kind.NEW
    source = request.GET if request.method == "GET" else request.POST
    if request.GET.get("reply_to"):
        original = get_message(user, request.GET["reply_to"])
        mailbox = original.mailbox
        kind = _mode(request.GET.get("mode"))
    else:
        chosen = source.get("mailbox") or request.GET.get("mailbox") or user.default_mailbox_id
        if chosen:
            mailbox = access.get_mailbox(user, chosen, access.READ)
        else:
            mailbox = access.readable_mailboxes(user).order_by("name").first()
            if mailbox is None:
                raise Http404(_("You have no access to any mailbox yet. Ask your administrator."))
    reply_to = original if kind in (Kind.REPLY, Kind.REPLY_ALL) else None
    forward_of = original if kind == Kind.FORWARD else None
    if request.method == "POST":
        return _save_and_maybe_send(
            request,
            mailbox,
            None,
            kind=kind,
            reply_to=reply_to,
            forward_of=forward_of,
            client_key=request.POST.get("client_key", "")[:64] or secrets.token_hex(16),
        )
    start = compose.initial(mailbox, kind, original)
    values = {
        "to": addresses.as_text(start.to),
        "cc": addresses.as_text(start.cc),
        "bcc": "",
        "subject": start.subject,
        "body_html": start.body_html,
    }
    return _page(
        request,
        mailbox=mailbox,
        draft=None,
        values=values,
        kind=kind,
        reply_to=reply_to,
        forward_of=forward_of,
        client_key=secrets.token_hex(16),
    )


@email_module_required
def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft, or a failed message (editable again), or the state of one being sent."""
    draft = get_outgoing(request.user, pk)
    mailbox = draft.mailbox
    if request.method == "POST":
        if not draft.editable:
            return _not_editable(request, draft)
        if draft.kind == Kind.NEW and request.POST.get("mailbox"):
            mailbox = access.get_mailbox(request.user, request.POST["mailbox"], access.READ)
        return _save_and_maybe_send(
            request,
            mailbox,
            draft,
            kind=draft.kind,
            reply_to=draft.reply_to,
            forward_of=draft.forward_of,
            client_key=draft.client_key,
        )
    if not draft.editable:
        return render(
            request,
            "sending/sending.html",
            {"draft": draft, "description": status.describe(draft)},
        )
    values = {
        "to": addresses.as_text(draft.to_addresses),
        "cc": addresses.as_text(draft.cc_addresses),
        "bcc": addresses.as_text(draft.bcc_addresses),
        "subject": draft.subject,
        "body_html": draft.body_html,
    }
    return _page(
        request,
        mailbox=mailbox,
        draft=draft,
        values=values,
        kind=draft.kind,
        reply_to=draft.reply_to,
        forward_of=draft.forward_of,
        client_key=draft.client_key or f"draft-{draft.pk}",
    )


@email_module_required
@require_POST
def attachments_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload files to a draft (the limit is checked here too, not only in the page)."""
    draft = get_outgoing(request.user, pk)
    try:
        actions.do_add_attachments(draft, _uploads(request))
    except actions.NotEditable:
        return _not_editable(request, draft)
    except ValidationError as exc:
        if _wants_json(request):
            too_large = any(e.code == "too_large" for e in exc.error_dict.get("attachments", []))
            return _errors_json(exc, 413 if too_large else 400)
        for error in exc.messages:
            messages.error(request, error)
    if _wants_json(request):
        return _draft_json(draft)
    return redirect("sending-edit", pk=draft.pk)


@email_module_required
@require_POST
def attachment_delete_view(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    draft = get_outgoing(request.user, pk)
    try:
        actions.do_remove_attachment(draft, attachment_id)
    except actions.NotEditable:
        return _not_editable(request, draft)
    if _wants_json(request):
        return _draft_json(draft)
    return redirect("sending-edit", pk=draft.pk)


@email_module_required
@require_POST
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Throw a draft (or failed message) away."""
    draft = get_outgoing(request.user, pk)
    try:
        actions.do_delete_draft(draft)
    except actions.NotEditable:
        return _not_editable(request, draft)
    messages.success(request, _("Draft deleted."))
    return redirect("sending-outbox")


@email_module_required
@require_POST
def cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a message that waits for another attempt and edit it again."""
    draft = get_outgoing(request.user, pk)
    if not actions.do_cancel(draft):
        return _not_editable(request, draft)
    return redirect("sending-edit", pk=draft.pk)


@email_module_required
@require_GET
def status_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The send state, for the pages' polling."""
    return JsonResponse(status.as_dict(get_outgoing(request.user, pk)))


@email_module_required
def outbox_view(request: HttpRequest) -> HttpResponse:
    """The user's drafts, messages being sent, failed ones and recently sent ones."""
    user = request.user
    since = timezone.now() - timezone.timedelta(days=OUTBOX_SENT_DAYS)
    rows = (
        OutgoingMessage.objects.filter(author=user, mailbox__in=access.readable_mailboxes(user))
        .filter(~Q(state=State.SENT) | Q(sent_at__gte=since))
        .select_related("mailbox")
        .order_by("-updated_at", "-pk")[:200]
    )
    items = [
        {
            "message": m,
            "label": status.label(m),
            "description": status.describe(m),
            "recipients": addresses.as_text(m.to_addresses) or addresses.as_text(m.cc_addresses),
        }
        for m in rows
    ]
    mailbox_id = request.GET.get("mailbox") or user.default_mailbox_id
    compose_url = reverse("sending-compose")
    if mailbox_id:
        compose_url += "?" + urlencode({"mailbox": mailbox_id})
    return render(request, "sending/outbox.html", {"items": items, "compose_url": compose_url})


@email_module_required
@require_GET
def address_suggestions_view(request: HttpRequest, pk: int) -> JsonResponse:
    """Addresses seen in mailbox ``pk`` matching ``?q=`` (READ right)."""
    mailbox = access.get_mailbox(request.user, pk, access.READ)
    query = request.GET.get("q", "")[:100]
    return JsonResponse({"results": addresses.suggestions(mailbox, query)})


# -- Tab Template ------------------------------------------------------------------------


@mailbox_manager_required
def template_tab(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    template = actions.get_template(mailbox)
    errors: dict[str, list[str]] = {}
    values = {
        "font_family": template.font_family,
        "font_size": template.font_size,
        "font_color": template.font_color,
        "signature_html": template.signature_html,
    }
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in values}
        try:
            actions.do_set_template(mailbox, actor=request.user, **values)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Template saved."))
            return redirect("mailbox-template", pk=mailbox.pk)
    return render(
        request,
        "sending/template_tab.html",
        {
            "mailbox": mailbox,
            "template": template,
            "tabs": mailbox_tabs(mailbox, "template"),
            "values": values,
            "signature": sanitize_outgoing_html(str(values["signature_html"] or "")),
            "errors": errors,
            "fonts": FONT_STACKS,
            "sizes": FONT_SIZES,
        },
        status=400 if errors else 200,
    )
