"""Synchronisatie herstellen (docs/product.md, The mailbox): record the new moment and queue the repair fetch.

Who may: ``mailboxes.access`` (``get_mailbox(user, pk, access.REPAIR)``).

Only the moment is written here; the engine looks at every server message from
then on and fetches the ones never fetched before.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from postkamer.accounts.models import User
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import AuditAction, Mailbox


def confirm_message() -> str:
    return _("Tick 'I agree' to repair the synchronisation.")


def future_message() -> str:
    return _("Choose a moment in the past.")


def since_problem(since: dt.datetime) -> str | None:
    """Return why ``since`` cannot be used, or None."""
    if since > timezone.now():
        return future_message()
    return None


def request_repair(mailbox: Mailbox, since: dt.datetime, *, user: User) -> FetchRun:
    """Set ``mailbox.repair_since`` and queue a repair fetch; return the run.

    The caller checked the right and the access; the writes (and the audit
    entry) commit together so the worker never sees the run without the moment.
    """
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(repair_since=since)
        mailbox.repair_since = since
        audit.record(mailbox, user, AuditAction.SYNC_REPAIRED, since=since.isoformat())
        return request_fetch(mailbox, user=user, trigger=FetchRun.Trigger.REPAIR)
