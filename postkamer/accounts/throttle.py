"""The login throttle: one rule for every place that checks a password or a token.

Who calls it:

- every ``authenticate()`` — the login page and the admin's login — through
  ``backends.ThrottledModelBackend``;
- the old-password field of the password-change page (``forms.PasswordChangeForm``);
- API token authentication (``authentication.ThrottledTokenAuthentication``).

What it counts: password checks per account (the e-mail address as typed, whether
or not such a user exists, so the answer never tells) and per client address, in
a window of ``LOGIN_FAILURE_WINDOW_SECONDS``. An account gets
``LOGIN_FAILURE_LIMIT`` failures, an address four times as many (an office shares
one public address). The address is ``REMOTE_ADDR`` as
``core.middleware.TrustedProxyMiddleware`` left it: the real client behind a
trusted proxy. IPv6 clients are counted per /64, the block one line usually gets.

Why the order matters: an attempt takes its slot *before* the password is
checked, with one conditional UPDATE that only succeeds while the count is
under the limit. The database runs such UPDATEs on one row one after the other
(a row lock on PostgreSQL, the write lock on SQLite), and each sees the count
the previous one left, so forty parallel attempts still check at most
``LOGIN_FAILURE_LIMIT`` passwords. A check that succeeds gives the address its
slot back and clears the account's count. When a slot takes the count to the
limit, the window starts again from that moment: a locked account stays locked
for the whole window.

API tokens are 160 random bits, not something a person chooses: they are not
worth a write per API call. A token check first reads whether the address is
locked and counts only the failures, so parallel guesses may overshoot the limit
by their number, which does not bring 2^160 any closer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postkamer.accounts.models import LoginThrottle

MESSAGE = _("Too many failed attempts. For your safety, please wait 15 minutes and try again.")

#: An address may fail this many times as often as an account.
ADDRESS_FACTOR = 4

_REFUSED = "postkamer_login_throttled"


class Throttled(Exception):
    """Too many failed attempts: refused without checking the password."""


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:254]


def address_key(address: str | None) -> str | None:
    """Return the throttle key of a client address (IPv6: its /64), None when unknown."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return "address:" + str(ipaddress.IPv6Network((ip, 64), strict=False))
        ip = ip.ipv4_mapped
    return f"address:{ip}"


def client_address(request: Any) -> str | None:
    """The client's address (``REMOTE_ADDR``; see ``TrustedProxyMiddleware``)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _take(key: str, limit: int, now: datetime, *, enforce: bool = True) -> bool:
    """Count one attempt on ``key``; False (and nothing counted) when the count
    already reached ``limit`` in the current window and ``enforce`` is set."""
    stale = Q(window_start__lt=now - _window())
    rows = LoginThrottle.objects.filter(key=key)
    if enforce:
        rows = rows.filter(stale | Q(count__lt=limit))
    restart = [When(stale, then=Value(now)), When(count__gte=limit - 1, then=Value(now))]
    for _attempt in range(3):
        updated = rows.update(
            count=Case(When(stale, then=Value(1)), default=F("count") + 1),
            window_start=Case(*restart, default=F("window_start")),
        )
        if updated:
            return True
        if LoginThrottle.objects.filter(key=key).exists():
            return False
        try:
            with transaction.atomic():
                LoginThrottle.objects.create(key=key, count=1, window_start=now)
            return True
        except IntegrityError:
            continue  # someone else created the row just now: count on it
    return False


def _give_back(key: str) -> None:
    LoginThrottle.objects.filter(key=key, count__gt=0).update(count=F("count") - 1)


def _forget_old(now: datetime) -> None:
    LoginThrottle.objects.filter(window_start__lt=now - _window()).delete()


def check_password(email: str, address: str | None, check: Callable[[], bool]) -> bool:
    """Run ``check`` (one password comparison for ``email``) if the throttle allows it.

    Returns what ``check`` returned. Raises Throttled, without calling ``check``,
    when the account or the address used up its attempts.
    """
    now = timezone.now()
    limit = settings.LOGIN_FAILURE_LIMIT
    keys: list[tuple[str, int]] = [(account_key(email), limit)]
    by_address = address_key(address)
    if by_address:
        keys.append((by_address, limit * ADDRESS_FACTOR))
    taken: list[str] = []
    for key, key_limit in keys:
        if not _take(key, key_limit, now):
            for done in taken:
                _give_back(done)
            raise Throttled
        taken.append(key)
    try:
        ok = bool(check())
    except BaseException:
        for done in taken:
            _give_back(done)
        raise
    if ok:
        LoginThrottle.objects.filter(key=taken[0]).delete()
        for done in taken[1:]:
            _give_back(done)
    else:
        _forget_old(now)
    return ok


def address_locked(address: str | None) -> bool:
    """True when ``address`` used up its failures in the current window."""
    key = address_key(address)
    if key is None:
        return False
    return LoginThrottle.objects.filter(
        key=key,
        count__gte=settings.LOGIN_FAILURE_LIMIT * ADDRESS_FACTOR,
        window_start__gte=timezone.now() - _window(),
    ).exists()


def count_address_failure(address: str | None) -> None:
    """Count one failed check (a wrong API token) against ``address``."""
    key = address_key(address)
    if key is not None:
        now = timezone.now()
        _take(key, settings.LOGIN_FAILURE_LIMIT * ADDRESS_FACTOR, now, enforce=False)
        _forget_old(now)


def mark_refused(request: Any) -> None:
    """Remember on ``request`` that the throttle refused, so the form can say so."""
    if request is not None:
        setattr(request, _REFUSED, True)


def was_refused(request: Any) -> bool:
    return bool(getattr(request, _REFUSED, False))
