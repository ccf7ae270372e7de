"""Beheer -> E-mailmanager -> mailbox -> Automatisch antwoord."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from postkamer.autoreply import actions
from postkamer.autoreply.compose import reply_body, reply_subject
from postkamer.autoreply.forms import AutoReplyForm
from postkamer.autoreply.models import REPLY_STATES, AutoReply, Reason, ReplyDecision, State
from postkamer.mail.outgoing import Font, wrap_html
from postkamer.mailboxes import access
from postkamer.mailboxes.guards import mailbox_manager_required
from postkamer.mailboxes.models import Mailbox
from postkamer.mailboxes.tabs import mailbox_tabs
from postkamer.sending import status
from postkamer.sending.actions import font_of
from postkamer.sending.compose import signature_block

PAGE_SIZE = 50


def _moment(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "d-m-Y H:i")


def status_text(config: AutoReply, now: dt.datetime) -> str:
    """One sentence: is the reply answering senders now, and if not, why not."""
    if not config.enabled:
        return _("Off: nobody receives an automatic reply.")
    if config.starts_at is not None and now < config.starts_at:
        return _("On from %(start)s.") % {"start": _moment(config.starts_at)}
    if config.ends_at is not None and now >= config.ends_at:
        return _("Ended on %(end)s: nobody receives an automatic reply.") % {
            "end": _moment(config.ends_at)
        }
    if config.ends_at is not None:
        return _("On until %(end)s: senders receive the reply.") % {"end": _moment(config.ends_at)}
    return _("On: senders receive the reply.")


def editor_font(font: Font) -> dict[str, str]:
    """The template's font as the editor and the preview script apply it."""
    return {"family": font.family, "size": f"{font.size_pt}pt", "color": font.color}


def preview_document(mailbox: Mailbox, body_html: str, font: Font) -> str:
    """The reply's HTML as the customer receives it, for a sandboxed frame: the
    stored, sanitised text with the mailbox's signature, in the template's font,
    wrapped exactly as the sending app wraps it (``autoreply.js`` builds the same
    document while the text is typed)."""
    return wrap_html(reply_body(mailbox, body_html), font)


def _build_errors() -> dict[str, str]:
    return {
        actions.INVALID_RECIPIENT: _("the return path is not an address mail can be sent to"),
        actions.INVALID_SENDER: _(
            "the mailbox's sender address or display name cannot be used in a mail header"
        ),
        actions.INVALID_REPLY: _("the reply could not be put together"),
    }


def failure_text(decision: ReplyDecision) -> str:
    """Why a reply failed, in words ("" unless it failed): the sending app's error
    with its parameters (e.g. the server's refusal per address), or why the reply
    could not be built."""
    if decision.state != State.FAILED:
        return ""
    if decision.error_code in actions.BUILD_ERRORS:
        return _build_errors()[decision.error_code]
    outgoing = decision.outgoing
    if outgoing is not None and outgoing.error_code:
        return status.reason(outgoing.error_code, outgoing.error_params)
    return status.reason(decision.error_code)


def decisions_for(mailbox: Mailbox, *, include_skipped: bool) -> QuerySet[ReplyDecision]:
    """The mailbox's decisions, newest first: the replies only, or every message judged."""
    rows = ReplyDecision.objects.filter(mailbox=mailbox).select_related("message", "outgoing")
    if not include_skipped:
        rows = rows.filter(state__in=REPLY_STATES)
    return rows.order_by("-decided_at", "-pk")


def decision_row(decision: ReplyDecision, *, show_content: bool) -> dict[str, Any]:
    """A decision as shown on the tab and by the API. The original's subject and the
    reply's subject are mail content: only for users who may read the mailbox."""
    message = decision.message
    return {
        "id": decision.pk,
        "decided_at": decision.decided_at,
        "recipient": decision.recipient,
        "message": message.pk,
        "message_received_at": message.received_at,
        "message_subject": message.subject if show_content else None,
        "subject": decision.subject if show_content and decision.subject else None,
        "replied": decision.replied,
        "state": decision.state,
        "state_label": str(State(decision.state).label),
        "reason": decision.reason,
        "reason_label": str(Reason(decision.reason).label)
        if decision.reason in Reason.values
        else decision.reason,
        "sent_at": decision.sent_at,
        "error_code": decision.error_code,
        "error_label": failure_text(decision),
    }


@mailbox_manager_required
def mailbox_auto_reply(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    config = actions.current(mailbox)
    form = AutoReplyForm(request.POST or None, config=config)
    if request.method == "POST" and form.is_valid():
        saved = actions.do_save_auto_reply(mailbox, request.user, form.changes())
        messages.success(request, status_text(saved, timezone.now()))
        return redirect("mailbox-auto-reply", pk=mailbox.pk)

    if form.is_bound:
        # The refused text comes back cleaned: the editor puts it into the page.
        form.data = form.data.copy()
        form.data["body_html"] = actions.clean_body(form.data.get("body_html", ""))
    include_skipped = request.GET.get("all") == "1"
    page = Paginator(decisions_for(mailbox, include_skipped=include_skipped), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    show_content = access.can_read(request.user, mailbox)
    example_subject = _("Question about my policy")
    subject = form["subject"].value() or ""
    body = form["body_html"].value() or ""
    font = font_of(mailbox)
    return render(
        request,
        "mailboxes/auto_reply.html",
        {
            "mailbox": mailbox,
            "tabs": mailbox_tabs(mailbox, "auto_reply"),
            "form": form,
            "status_text": status_text(config, timezone.now()),
            "active": config.is_active(timezone.now()),
            "example_subject": example_subject,
            "preview_subject": reply_subject(subject, example_subject),
            "preview_document": preview_document(mailbox, actions.clean_body(body), font),
            "font": editor_font(font),
            "signature_html": signature_block(mailbox),
            "rows": [decision_row(d, show_content=show_content) for d in page],
            "page": page,
            "include_skipped": include_skipped,
            "show_content": show_content,
        },
        status=400 if form.is_bound else 200,
    )
