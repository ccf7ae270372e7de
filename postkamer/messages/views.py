"""The e-mail module: the mailbox switcher, the message list with search, one message
and its body, attachments and original, and the fetch button."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import unquote, urlencode

from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from postkamer.accounts.models import User
from postkamer.fetching import status
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mail.html import clean_html
from postkamer.mailboxes import access, oauth, oauth_views, providers
from postkamer.mailboxes.guards import email_module_required
from postkamer.messages import downloads, readstate, sendstate, threads
from postkamer.messages.access import get_message
from postkamer.messages.forms import SearchForm
from postkamer.messages.models import Folder, Message

PAGE_SIZE = 50
SEARCH_COUNT_CAP = 1000

LIST_COLUMNS = (
    "pk",
    "subject",
    "problems",
    "from_addresses",
    "to_addresses",
    "date",
    "received_at",
    "has_attachments",
)
# Inline-image links in a message body are signed for the reader and expire; the
# sandboxed body frame has no origin of its own, so browsers may not send the
# session cookie with its image requests.
INLINE_SALT = "postkamer.inline-image"
INLINE_MAX_AGE = 12 * 3600


@functools.cache
def _paperclip() -> str:
    return mark_safe(render_to_string("icons/paperclip.svg"))  # noqa: S308 - our own file


class SearchPaginator(Paginator):
    """Pages of search results from one look at the index.

    The IDs of the first :data:`SEARCH_COUNT_CAP` (+1) results, newest first, are
    read in one query, which gives both the count and every page's IDs; a page then
    loads its rows by ID. A separate COUNT would run the full-text match a second
    time, and an exact count of a common word tests every message of the mailbox.
    ``capped`` says that there are more than the cap (the page asks to refine).
    """

    @functools.cached_property
    def ids(self) -> list[int]:
        return list(self.object_list.values_list("pk", flat=True)[: SEARCH_COUNT_CAP + 1])

    @functools.cached_property
    def count(self) -> int:
        self.capped = len(self.ids) > SEARCH_COUNT_CAP
        return min(len(self.ids), SEARCH_COUNT_CAP)

    def page(self, number: Any) -> Any:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        chunk = self.ids[bottom : min(bottom + self.per_page, self.count)]
        # The IDs come from the mailbox-scoped search above; loading them again by
        # ID alone does not run the match a second time.
        rows = Message.objects.only(*LIST_COLUMNS).in_bulk(chunk)
        return self._get_page([rows[pk] for pk in chunk if pk in rows], number, self)


def _folder(value: str | None) -> str:
    # An unknown tab is not worth an error page: show the inbox.
    return value if value in Folder.values else Folder.INBOX


def module_url(mailbox_id: int, folder: str = Folder.INBOX) -> str:
    """The e-mail module showing ``folder`` of mailbox ``mailbox_id``."""
    return f"{reverse('email-module')}?{urlencode({'mailbox': mailbox_id, 'folder': folder})}"


def _query(**values: Any) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "", False)})


def _reconnect_notice(user: User, mailbox: Any, expired: set[int]) -> dict[str, Any]:
    """The "Opnieuw verbinden" notice of a mailbox whose sign-in expired: a link for
    those who may connect it, a request to ask the administrator for the others."""
    if mailbox.pk not in expired:
        return {}
    can_manage = access.right_problem(user, access.MANAGE) is None
    return {
        "reconnect_provider": providers.TITLES[providers.provider_name(mailbox.type) or ""],
        "reconnect_url": oauth_views.connect_url(mailbox) if can_manage else None,
    }


@email_module_required
@require_GET
def email_module(request: HttpRequest) -> HttpResponse:
    user = request.user
    mailboxes = list(access.readable_mailboxes(user).order_by("name"))
    counts = readstate.inbox_counts(user, [m.pk for m in mailboxes])
    # One query, and only when an Office 365 / Google mailbox is in the list.
    expired = oauth.reconnect_needed_ids([m.pk for m in mailboxes if m.uses_oauth])
    for box in mailboxes:
        box.unread = counts[box.pk].unread
        box.reconnect_needed = box.pk in expired
    folder = _folder(request.GET.get("folder"))
    selected = None
    if request.GET.get("mailbox"):
        # Same rule as everywhere: 404 for strangers, 403 for managers who are no owner.
        selected = access.get_mailbox(user, request.GET["mailbox"], access.READ)
    elif mailboxes:
        by_id = {m.pk: m for m in mailboxes}
        selected = by_id.get(user.default_mailbox_id) or mailboxes[0]

    form = SearchForm(request.GET or None)
    context: dict[str, object] = {
        "mailboxes": mailboxes,
        "selected": selected,
        "folder": folder,
        "folders": Folder.choices,
        "form": form,
    }
    if selected is not None:
        filters = {
            key: request.GET.get(key, "")
            for key in ("q", "attachments", "since", "until")
            if request.GET.get(key)
        }
        messages = form.apply(Message.objects.filter(mailbox=selected, folder=folder))
        messages = messages.only(*LIST_COLUMNS)
        messages = messages.order_by("-received_at", "-pk")
        if form.active:
            paginator: Paginator = SearchPaginator(messages, PAGE_SIZE)
        else:
            paginator = Paginator(messages, PAGE_SIZE)
            if folder == Folder.INBOX and selected.pk in counts:
                # The switcher just counted this inbox: no second count of it.
                paginator.count = counts[selected.pk].total
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = readstate.flag_read(user, page.object_list)
        run = status.latest_run(selected)
        context.update(_reconnect_notice(user, selected, expired))
        context.update(
            {
                "page": page,
                # Made once, not per row: 50 reverse() calls and template includes
                # were a measurable share of the page (bench/bench_reading.py).
                "message_prefix": reverse("email-message", args=[0])[: -len("0/")],
                "paperclip": _paperclip(),
                "searching": form.active,
                "search_capped": getattr(paginator, "capped", False),
                "search_cap": SEARCH_COUNT_CAP,
                "tab_query": _query(mailbox=selected.pk, **filters),
                "page_query": _query(mailbox=selected.pk, folder=folder, **filters),
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


def _inline_index(message: Message) -> dict[str, int]:
    """{Content-ID: position} of the message's inline raster images."""
    return {
        a.content_id: n
        for n, a in enumerate(message.attachments.all())
        if a.content_id
        and downloads.safe_content_type(a.content_type) in downloads.INLINE_IMAGE_TYPES
    }


@email_module_required
@require_GET
def message_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One message; opening it marks it read for this user (not for colleagues)."""
    message = get_message(request.user, pk)
    readstate.do_mark_read(request.user, message)
    show_images = request.GET.get("images") == "1"
    attachments = list(message.attachments.all())
    blocked = False
    if message.html:
        blocked = clean_html(message.html).blocked_remote_images
    body_url = reverse("email-message-body", args=[message.pk])
    context = {
        "message": message,
        "mailbox": message.mailbox,
        "attachments": [
            (n, a) for n, a in enumerate(attachments) if not a.inline or not a.content_id
        ],
        "show_images": show_images,
        "images_blocked": blocked and not show_images,
        "body_url": f"{body_url}?images=1" if show_images else body_url,
        "thread": threads.conversation(message),
        "send_state": sendstate.send_state(message),
        "back_url": module_url(message.mailbox_id, message.folder),
    }
    return render(request, "messages/message.html", context)


def _body_csp(inline_prefix: str, show_images: bool) -> str:
    images = f"{inline_prefix} data:" + (" https: http:" if show_images else "")
    return "; ".join(
        [
            "default-src 'none'",
            f"img-src {images}",
            "style-src 'unsafe-inline'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
            # Also sandboxed when opened on its own, not just inside our iframe.
            "sandbox allow-popups allow-popups-to-escape-sandbox",
        ]
    )


@email_module_required
@require_GET
@xframe_options_sameorigin
def message_body(request: HttpRequest, pk: int) -> HttpResponse:
    """The sanitised HTML body, for the sandboxed iframe of the message page."""
    message = get_message(request.user, pk)
    show_images = request.GET.get("images") == "1"
    token = signing.dumps({"u": request.user.pk, "m": message.pk}, salt=INLINE_SALT)
    inline_prefix = request.build_absolute_uri(
        reverse("email-message-inline", args=[message.pk, 0]).rsplit("/0/", 1)[0] + "/"
    )
    index = _inline_index(message)

    def cid_url(content_id: str) -> str | None:
        # RFC 2392: a cid: URL is the Content-ID, %-encoded where needed.
        n = index.get(unquote(content_id.strip()).strip("<>"))
        return None if n is None else f"{inline_prefix}{n}/?{urlencode({'t': token})}"

    cleaned = clean_html(message.html or "", allow_remote_images=show_images, cid_url=cid_url)
    response = render(request, "messages/body.html", {"body": cleaned.html})
    response["Content-Security-Policy"] = _body_csp(inline_prefix, show_images)
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _inline_reader(request: HttpRequest, pk: int) -> User | None:
    """The user an inline-image link was signed for (None without a valid link)."""
    try:
        data = signing.loads(request.GET.get("t", ""), salt=INLINE_SALT, max_age=INLINE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("m") != pk:
        return None
    return User.objects.filter(pk=data.get("u"), is_active=True).first()


@require_GET
def message_inline(request: HttpRequest, pk: int, n: int) -> HttpResponse:
    """An inline image of a message body: by a signed link, or with the session."""
    reader = _inline_reader(request, pk)
    if reader is None:
        if not request.user.is_authenticated:
            raise PermissionDenied(_("Log in to see this image."))
        reader = request.user
    # Access is checked now, not when the link was made: a reader who lost the
    # mailbox loses its images too.
    message = get_message(reader, pk)
    return downloads.inline_image_response(message, n)


@email_module_required
@require_GET
def message_attachment(request: HttpRequest, pk: int, n: int) -> HttpResponse:
    message = get_message(request.user, pk)
    return downloads.attachment_response(message, n)


@email_module_required
@require_GET
def message_raw(request: HttpRequest, pk: int) -> HttpResponse:
    """Origineel downloaden: the message exactly as fetched."""
    return downloads.raw_response(get_message(request.user, pk))


@email_module_required
@require_POST
def message_unread(request: HttpRequest, pk: int) -> HttpResponse:
    """Markeer als ongelezen, for this user; back to the list it came from."""
    message = get_message(request.user, pk)
    readstate.do_mark_unread(request.user, message)
    return redirect(module_url(message.mailbox_id, message.folder))
