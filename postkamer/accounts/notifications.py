"""In-app notifications (e.g. "mailbox X was switched off"); the fetch engine creates them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from postkamer.accounts.models import Notification, User

LIST_SIZE = 100


def message(notification: Notification) -> str:
    """The notification in the active language: made from its kind and parameters
    (the fetch engine's are described by ``postkamer.fetching.problems``), or the
    text older notifications were stored with."""
    if notification.params:
        from postkamer.fetching.problems import describe

        return describe(notification.kind, notification.params)
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
