"""In-app notifications (e.g. "mailbox X was switched off"); the fetch engine creates them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from postkamer.accounts.models import Notification, User

LIST_SIZE = 100


#: kind -> the sentence for a notification of that kind, from its parameters, in the
#: active language. The app that creates a kind registers its wording (from its
#: ``AppConfig.ready``): accounts knows none of the apps above it.
_WORDING: dict[str, Callable[[dict[str, Any]], str]] = {}


def register_wording(kind: str, wording: Callable[[dict[str, Any]], str]) -> None:
    """Word notifications of ``kind`` with ``wording(params)`` when they are shown."""
    _WORDING[kind] = wording


def message(notification: Notification) -> str:
    """The notification in the active language: made from its kind and parameters,
    or the text older notifications were stored with."""
    wording = _WORDING.get(notification.kind)
    if notification.params and wording is not None:
        return wording(notification.params)
    return notification.text


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """Show the newest notifications; opening the page marks them read."""
    notifications = list(
        Notification.objects.filter(user=request.user)
        .select_related("mailbox")
        .order_by("-created_at", "-pk")[:LIST_SIZE]
    )
    for notification in notifications:
        notification.message = message(notification)  # type: ignore[attr-defined]
    unread = [n.pk for n in notifications if n.read_at is None]
    if unread:
        Notification.objects.filter(pk__in=unread).update(read_at=timezone.now())
    return render(
        request,
        "accounts/notifications.html",
        {"notifications": notifications, "unread_ids": set(unread)},
    )
