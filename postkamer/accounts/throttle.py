"""Failed-login throttling, shared by the login page and the API."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from postkamer.accounts.models import FailedLogin


def _window_start():
    return timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def is_locked(email: str, ip: str | None) -> bool:
    """True when ``email`` (or ``ip``) failed too often within the window."""
    recent = FailedLogin.objects.filter(at__gte=_window_start())
    limit = settings.LOGIN_FAILURE_LIMIT
    if recent.filter(email=email.lower()).count() >= limit:
        return True
    # An address trying many accounts is throttled too, at a higher bar: offices
    # share one public address, so several people may mistype at once.
    return bool(ip) and recent.filter(ip=ip).count() >= limit * 4


def record_failure(email: str, ip: str | None) -> None:
    FailedLogin.objects.create(email=email.lower()[:254], ip=ip or None)
    FailedLogin.objects.filter(at__lt=_window_start() - timedelta(days=1)).delete()


def clear(email: str) -> None:
    FailedLogin.objects.filter(email=email.lower()).delete()
