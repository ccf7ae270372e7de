"""Push, the database side: which worker watches which inbox with IMAP IDLE, what a
new-mail announcement does, and what the pages show.

**The watch lease.** A mailbox is watched by at most one worker: the one named
on its :class:`Watch` row while ``lease_until`` is in the future. A worker claims
free rows with a conditional UPDATE (``lease_until`` NULL or past: 0 rows means
another worker was first), renews all of its own in one UPDATE a few times per
lease, and hands them back in one UPDATE when it stops. A killed worker renews
nothing, so its leases run out and the others claim the mailboxes within one
lease. Clocks of the machines must agree (NTP) to well within a lease.

**The share.** Each worker holds at most ``ceil(watchable / live workers)``
mailboxes and hands back what is above it, so a worker that joins gets its part
within a few rounds.

**New mail** (:func:`new_mail`) asks for a fetch through
``queue.request_fetch(trigger=PUSH)``, the one way in: it coalesces with an open
run and marks it (``FetchRun.again``) so that run reads the inbox, or runs once
more when it had already started.

The asyncio side (the connections) is :mod:`postkamer.fetching.watchers`.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Min, Q, QuerySet, Value, When
from django.utils import timezone

from postkamer.fetching import queue
from postkamer.fetching.models import FetchRun, FolderState, Watch, Worker
from postkamer.fetching.pool import pool_key
from postkamer.mail.net import ServerSettings
from postkamer.mailboxes import oauth
from postkamer.mailboxes.connection import imap_settings
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Folder

IDLE = Watch.State.IDLE
POLLING = Watch.State.POLLING
OFF = Watch.State.OFF

#: Rows per statement when a list of ids goes into ``IN (…)``.
_CHUNK = 1000
#: Worker rows that stopped or fell silent this long ago are deleted.
_FORGET_WORKERS = dt.timedelta(days=1)


def lease() -> dt.timedelta:
    """How long a watch lease holds without renewal."""
    return dt.timedelta(seconds=settings.POSTKAMER_WATCH_LEASE)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def watchable() -> QuerySet[Mailbox]:
    """The mailboxes that should be watched: with an interval, not switched off, and
    able to log in (Office 365 and Google ones once connected: XOAUTH2 with a fresh
    token from ``server_settings``, like the fetch)."""
    return Mailbox.objects.filter(interval_minutes__isnull=False, disabled_code="").exclude(
        oauth.never_connected()
    )


def _free(now: dt.datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def _polling_since(now: dt.datetime) -> Case:
    # A row that was polling keeps its moment; one that was watched starts now.
    return Case(When(state=POLLING, then=F("since")), default=Value(now))


# -- workers ------------------------------------------------------------------
#: The id of this process's Worker row, once the watcher service registered it.
_current_worker: int | None = None


def current_worker() -> int | None:
    """The id of this worker process's :class:`Worker` row (None outside a worker)."""
    return _current_worker


def set_current_worker(worker_id: int | None) -> None:
    global _current_worker
    _current_worker = worker_id


def register(name: str, host: str, pid: int) -> int:
    """Record a starting worker process and return its id; forgets workers that
    stopped or fell silent a day ago."""
    now = timezone.now()
    Worker.objects.filter(
        Q(stopped_at__lt=now - _FORGET_WORKERS) | Q(last_seen__lt=now - _FORGET_WORKERS)
    ).delete()
    return Worker.objects.create(name=name, host=host, pid=pid, started_at=now, last_seen=now).pk


def heartbeat(worker_id: int, watching: int, connections: int) -> None:
    """Say that the worker is alive, with what it holds open."""
    Worker.objects.filter(pk=worker_id).update(
        last_seen=timezone.now(), watching=watching, connections=connections
    )


def stop(worker_id: int) -> int:
    """Hand back every lease of the stopping worker at once; returns how many."""
    released = release(worker_id)
    Worker.objects.filter(pk=worker_id).update(stopped_at=timezone.now(), watching=0, connections=0)
    return released


# -- leases -------------------------------------------------------------------
def share(worker_id: int, limit: int) -> int:
    """How many mailboxes this worker should watch: its part of all watchable
    mailboxes among the live workers (itself included), at most ``limit``."""
    workers = max(1, Worker.objects.live().exclude(pk=worker_id).count() + 1)
    return min(limit, math.ceil(watchable().count() / workers))


def renew(worker_id: int) -> dict[int, str]:
    """Extend all of this worker's leases in one UPDATE and give back those of
    mailboxes that are no longer watchable; return the mailboxes it holds, each
    with the key of its server settings (a changed key means: connect again)."""
    now = timezone.now()
    with transaction.atomic():
        Watch.objects.filter(worker_id=worker_id).exclude(
            mailbox_id__in=watchable().values("pk")
        ).update(worker=None, lease_until=None, state=OFF, since=now, error_code="")
        Watch.objects.filter(worker_id=worker_id).update(lease_until=now + lease())
    held = Mailbox.objects.filter(watch__worker_id=worker_id).only(
        "imap_host", "imap_port", "imap_security", "imap_username", "imap_password_enc"
    )
    return {mailbox.pk: pool_key(mailbox) for mailbox in held}


def claim(worker_id: int, count: int) -> int:
    """Take up to ``count`` watchable mailboxes that nobody watches (no row, no
    worker, or a lease that ran out); returns how many were taken."""
    if count <= 0:
        return 0
    now = timezone.now()
    free = watchable().filter(
        Q(watch__isnull=True) | Q(watch__lease_until__isnull=True) | Q(watch__lease_until__lt=now)
    )
    ids = list(free.values_list("pk", flat=True))
    if not ids:
        return 0
    # Random picks, so two workers claiming at once mostly want different rows.
    picked = random.sample(ids, min(count, len(ids)))
    taken = 0
    for chunk in _chunks(picked):
        Watch.objects.bulk_create(
            [Watch(mailbox_id=pk, state=POLLING, since=now) for pk in chunk],
            ignore_conflicts=True,
        )
        taken += (
            Watch.objects.filter(pk__in=chunk)
            .filter(_free(now))
            .update(
                worker_id=worker_id,
                lease_until=now + lease(),
                state=POLLING,
                since=_polling_since(now),
            )
        )
    return taken


def release(worker_id: int | None, mailbox_ids: Iterable[int] | None = None) -> int:
    """Hand back this worker's leases (all, or those of ``mailbox_ids``); the
    mailboxes are polled until another worker watches them. Returns how many."""
    if worker_id is None:
        return 0  # never "the rows of no worker"
    now = timezone.now()
    fields = {
        "worker": None,
        "lease_until": None,
        "state": POLLING,
        "since": _polling_since(now),
        "error_code": "",
    }
    mine = Watch.objects.filter(worker_id=worker_id)
    if mailbox_ids is None:
        return mine.update(**fields)
    return sum(mine.filter(pk__in=chunk).update(**fields) for chunk in _chunks(mailbox_ids))


def record_states(worker_id: int, changes: dict[int, tuple[str, str]]) -> None:
    """Write the watch states that changed (``{mailbox: (state, error code)}``),
    one UPDATE per distinct state, only on rows this worker holds."""
    now = timezone.now()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for mailbox_id, change in changes.items():
        groups[change].append(mailbox_id)
    for (state, code), ids in groups.items():
        for chunk in _chunks(ids):
            Watch.objects.filter(pk__in=chunk, worker_id=worker_id).update(
                state=state, error_code=code, since=now
            )


# -- what the watchers and the scheduler ask ------------------------------------
def server_settings(mailbox_id: int) -> ServerSettings:
    """Where and how the watcher of ``mailbox_id`` logs in (raises
    ``Mailbox.DoesNotExist``, ``SecretUnreadable``)."""
    return imap_settings(Mailbox.objects.get(pk=mailbox_id))


def behind(mailbox_id: int, uidvalidity: int | None, uidnext: int | None, exists: int) -> bool:
    """Whether the INBOX as the server shows it has mail we have not stored: asked
    when a watcher (re)connects, for what arrived while nobody watched."""
    state = (
        FolderState.objects.filter(mailbox_id=mailbox_id, role=Folder.INBOX.value)
        .values_list("uidvalidity", "last_uid")
        .first()
    )
    if state is None:
        return exists > 0
    known_validity, last_uid = state
    if uidvalidity is None or uidnext is None:
        return True
    return known_validity != uidvalidity or uidnext > last_uid + 1


def new_mail(mailbox_id: int) -> FetchRun | None:
    """The server announced new mail: ask for a fetch (see the module docstring)."""
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        return None
    return queue.request_fetch(mailbox, trigger=FetchRun.Trigger.PUSH)


def watched_ids(mailbox_ids: Iterable[int], now: dt.datetime | None = None) -> set[int]:
    """Those of ``mailbox_ids`` whose inbox a worker holds in IDLE right now."""
    now = now or timezone.now()
    found: set[int] = set()
    for chunk in _chunks(mailbox_ids):
        found.update(
            Watch.objects.filter(pk__in=chunk, state=IDLE, lease_until__gt=now).values_list(
                "pk", flat=True
            )
        )
    return found


def is_watched(mailbox_id: int) -> bool:
    """Whether a worker holds the mailbox's inbox in IDLE right now."""
    return bool(watched_ids([mailbox_id]))


# -- what people see ----------------------------------------------------------------
def reason(mailbox: Mailbox) -> str:
    """Why a watched mailbox is polled instead, in the active language ("" if not)."""
    from django.utils.translation import gettext as _

    from postkamer.fetching import problems
    from postkamer.mail.idle import IdleUnsupported

    try:
        code = mailbox.watch.error_code
    except Watch.DoesNotExist:
        return ""
    if code == IdleUnsupported.code:
        return _("The mail server does not offer IMAP IDLE.")
    return problems.describe(code) if code else ""


def status(mailbox: Mailbox) -> tuple[str, dt.datetime | None]:
    """``(push, since)`` for the page and the API: ``idle`` (a worker holds the
    inbox in IDLE), ``polling`` (checked at its interval: the server lacks IDLE,
    or no worker watches it right now) or ``off`` (no automatic fetching)."""
    try:
        watch: Watch | None = mailbox.watch  # select_related("watch") saves a query
    except Watch.DoesNotExist:
        watch = None
    eligible = (
        mailbox.interval_minutes is not None
        and not mailbox.disabled_code
        and not oauth.is_never_connected(mailbox)
    )
    if not eligible:
        return OFF, watch.since if watch is not None and watch.state == OFF else None
    if watch is None:
        return POLLING, None
    now = timezone.now()
    leased = watch.lease_until is not None and watch.lease_until > now
    if watch.state == IDLE and leased:
        return IDLE, watch.since
    if watch.state == IDLE:
        return POLLING, watch.lease_until  # its worker fell silent then
    return POLLING, watch.since


def worker_summary(worker_id: int) -> dict[str, object]:
    """What ``postkamer status`` prints about one worker, from the database."""
    watches = Watch.objects.filter(worker_id=worker_id)
    return {
        "leases": watches.count(),
        "idle": watches.filter(state=IDLE).count(),
        "oldest_lease": watches.aggregate(oldest=Min("lease_until"))["oldest"],
        "running": FetchRun.objects.filter(
            worker_id=worker_id, started_at__isnull=False, finished_at__isnull=True
        ).count(),
    }
