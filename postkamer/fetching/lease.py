"""The claim on a mailbox: never two fetches of one mailbox at a time, across
workers and machines, and never more than a tenant's share of fetches at once.

A claim is a conditional UPDATE on the mailbox row that sets ``lease_until`` and
``lease_token``: 0 rows changed means someone else holds it. It works the same on
SQLite and PostgreSQL, and a crashed process's lease simply expires. The lease is
renewed in the transaction of every batch, so a batch commits only while the
lease is ours.

A lease taken by a worker process (``lease_worker``) is also free as soon as that
worker is no longer live (``Worker.objects.live``: it stopped, or has not reported
for one watch lease), so a worker killed in the middle of a fetch holds up that
mailbox for seconds, not for the whole :data:`LEASE`. Should a live worker only
look dead (its report late), the next claim takes the mailbox and its old holder
loses the lease at its next batch, before committing it.

The tenant's share: a running fetch is a mailbox with a lease in the future, so
a claim counts the tenant's leased mailboxes and claims only below the share.
Count and claim are one transaction that first locks the tenant's row
(PostgreSQL; SQLite's write lock is taken at BEGIN IMMEDIATE), so two workers
claiming for one tenant at the same moment are served one after the other.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from postkamer.accounts.models import Tenant
from postkamer.fetching.models import Worker
from postkamer.mailboxes.models import Mailbox

#: How long a claim holds without renewal; renewed after every batch.
LEASE = dt.timedelta(minutes=10)


class LeaseLost(Exception):
    """Our claim on the mailbox expired and someone else took it over."""


class ShareFull(Exception):
    """The mailbox's tenant already runs as many fetches as its share allows."""


def _live_workers(now: dt.datetime) -> QuerySet[Worker]:
    return Worker.objects.live(now).values("pk")


def _free(now: dt.datetime) -> Q:
    """Mailboxes nobody holds: no lease, an expired one, or a dead worker's."""
    orphaned = Q(lease_worker__isnull=False) & ~Q(lease_worker__in=_live_workers(now))
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now) | orphaned


def _held(now: dt.datetime) -> Q:
    """Mailboxes someone is fetching now (the opposite of :func:`_free`)."""
    by_the_living = Q(lease_worker__isnull=True) | Q(lease_worker__in=_live_workers(now))
    return Q(lease_until__gte=now) & by_the_living


def claim(
    mailbox_id: int,
    lease: dt.timedelta = LEASE,
    *,
    share: int | None = None,
    worker: int | None = None,
) -> str | None:
    """Take the mailbox's lease; return the token, or None when someone else holds it.

    With ``share``, raises :class:`ShareFull` when the mailbox's tenant already has
    ``share`` mailboxes leased (being fetched) and this one is free. ``worker`` is
    the claiming worker process's id (None outside a worker: the lease then only
    expires).
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    fields = {"lease_until": now + lease, "lease_token": token, "lease_worker": worker}
    if share is None:
        taken = Mailbox.objects.filter(pk=mailbox_id).filter(_free(now)).update(**fields)
        return token if taken else None
    with transaction.atomic():
        tenant_id = (
            Mailbox.objects.filter(pk=mailbox_id).values_list("tenant_id", flat=True).first()
        )
        if tenant_id is None:
            return None
        # Serialises the claims of one tenant (see the module docstring).
        list(Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk"))
        now = timezone.now()
        running = Mailbox.objects.filter(_held(now), tenant_id=tenant_id).count()
        free = Mailbox.objects.filter(pk=mailbox_id).filter(_free(now))
        if running >= share:
            if free.exists():
                raise ShareFull(f"tenant {tenant_id} already runs {running} fetches")
            return None
        taken = free.update(**fields)
    return token if taken else None


def renew(mailbox_id: int, token: str, lease: dt.timedelta = LEASE) -> None:
    """Extend our lease. Raises :class:`LeaseLost` when it is no longer ours."""
    renewed = Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
        lease_until=timezone.now() + lease
    )
    if not renewed:
        raise LeaseLost(f"lease on mailbox {mailbox_id} lost")


def release(mailbox_id: int, token: str, **fields: object) -> bool:
    """Give the lease back (only if still ours), writing ``fields`` in the same
    UPDATE; returns True when it was still ours."""
    return bool(
        Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
            lease_until=None, lease_token="", lease_worker=None, **fields
        )
    )


def holds(mailbox_id: int) -> bool:
    """Return True when someone live holds an unexpired lease on the mailbox."""
    return Mailbox.objects.filter(_held(timezone.now()), pk=mailbox_id).exists()
