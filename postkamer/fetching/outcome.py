"""Recording how a fetch went, on the mailbox: one function for a success and one
for a failure, called by the worker, the ``postkamer fetch`` command and the
fetch button's runs alike.

Every failure becomes the mailbox's last error; only scheduled fetches count
toward ``max_errors``, so pressing the button against a broken server cannot
switch the mailbox off. At ``max_errors`` the interval becomes *none*, the reason
is kept as a code with its parameters, the audit log says so, and everyone who
may read the mailbox gets a notification, once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from postkamer.accounts.models import Notification
from postkamer.fetching import lease, problems
from postkamer.mail import errors
from postkamer.mailboxes import access, audit
from postkamer.mailboxes.models import AuditAction, Mailbox


@dataclass
class FetchOutcome:
    """The result of one fetch: ``claimed`` False means another worker held the
    mailbox; ``error`` is the first error (``folder_errors`` lists missing folders,
    which do not stop the other folders)."""

    claimed: bool = True
    new_messages: int = 0
    error: BaseException | None = None
    folder_errors: list[errors.FolderMissing] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the fetch ran and nothing failed."""
        return self.claimed and self.error is None

    @property
    def problem(self) -> tuple[str, problems.Params]:
        """Return the code and parameters of ``error`` (``""`` without error)."""
        if self.error is None:
            return "", {}
        return problems.from_exception(self.error)

    @property
    def error_code(self) -> str:
        """Return the machine-readable code of ``error`` ("" without error)."""
        return self.problem[0]

    @property
    def error_text(self) -> str:
        """Return ``error`` in words, in the active language ("" without error)."""
        return problems.describe(*self.problem)


def do_record_fetch_success(
    mailbox: Mailbox, *, release_token: str | None = None, at: dt.datetime | None = None
) -> None:
    """Record a successful fetch of ``mailbox``: the moment, and no errors any more.

    With ``release_token`` the lease is given back in the same UPDATE (one write
    per poll of an unchanged mailbox).
    """
    fields: dict[str, object] = {"last_fetch_at": at or timezone.now()}
    if mailbox.error_count or mailbox.last_error_code:
        fields.update(error_count=0, last_error_code="", last_error_params={})
    if release_token is not None:
        lease.release(mailbox.pk, release_token, **fields)
    else:
        Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
    mailbox.last_fetch_at = fields["last_fetch_at"]  # type: ignore[assignment]
    if "error_count" in fields:
        mailbox.error_count, mailbox.last_error_code, mailbox.last_error_params = 0, "", {}


def do_record_fetch_failure(
    mailbox: Mailbox,
    error: BaseException,
    *,
    scheduled: bool,
    release_token: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Record a failed fetch of ``mailbox``: ``error`` becomes its last error; a
    ``scheduled`` fetch also counts toward ``max_errors`` and may switch
    automatic fetching off (see the module docstring).

    With ``release_token`` the lease is given back in the same transaction.
    """
    code, params = problems.from_exception(error)
    fields: dict[str, object] = {
        "last_error_code": code,
        "last_error_params": params,
        "last_error_at": at or timezone.now(),
    }
    if scheduled:
        fields["error_count"] = F("error_count") + 1
    with transaction.atomic():
        if release_token is not None:
            lease.release(mailbox.pk, release_token, **fields)
        else:
            Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
        mailbox.refresh_from_db(
            fields=[
                "error_count",
                "last_error_code",
                "last_error_params",
                "last_error_at",
                "interval_minutes",
                "max_errors",
                "disabled_code",
                "disabled_params",
            ]
        )
        if scheduled and mailbox.max_errors and mailbox.error_count >= mailbox.max_errors:
            _switch_off(mailbox, code, params)


def _switch_off(mailbox: Mailbox, code: str, params: problems.Params) -> None:
    error = problems.nested(code, params)
    reason = {"count": mailbox.error_count, "error": error}
    # Conditional, so two failing workers notify the readers once.
    switched = Mailbox.objects.filter(pk=mailbox.pk, disabled_code="").update(
        interval_minutes=None, disabled_code=problems.TOO_MANY_ERRORS, disabled_params=reason
    )
    if not switched:
        return
    mailbox.interval_minutes = None
    mailbox.disabled_code, mailbox.disabled_params = problems.TOO_MANY_ERRORS, reason
    audit.record(mailbox, None, AuditAction.AUTO_DISABLED, errors=mailbox.error_count)
    note = {"name": mailbox.name, "count": mailbox.error_count, "error": error}
    Notification.objects.bulk_create(
        Notification(user=user, mailbox=mailbox, kind=problems.MAILBOX_DISABLED, params=note)
        for user in access.users_who_can_read(mailbox)
    )
