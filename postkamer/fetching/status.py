"""How a fetch run reads to a person: shared by the e-mail module and the API."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from postkamer.fetching.models import FetchRun
from postkamer.mailboxes.models import Mailbox

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"  # another fetch of the mailbox was running; not an error


def state(run: FetchRun) -> str:
    """Return queued, running, done, failed or skipped."""
    if run.finished_at is None:
        return RUNNING if run.started_at else QUEUED
    if run.ok is None:
        return SKIPPED
    return DONE if run.ok else FAILED


def summary(run: FetchRun | None) -> str:
    """The one-line status shown next to the fetch button."""
    if run is None:
        return _("Not fetched yet.")
    current = state(run)
    if current in (QUEUED, RUNNING):
        return _("Fetching…")
    at = timezone.localtime(run.finished_at).strftime("%H:%M")
    if current == SKIPPED:
        return run.error
    if current == FAILED:
        return _("Fetching failed at %(time)s: %(error)s") % {
            "time": at,
            "error": run.error or _("unknown error"),
        }
    return ngettext(
        "Fetched at %(time)s: %(count)d new message",
        "Fetched at %(time)s: %(count)d new messages",
        run.new_messages,
    ) % {"time": at, "count": run.new_messages}


def status_url(run: FetchRun) -> str:
    return reverse("api-fetch-run", kwargs={"pk": run.pk})


def as_dict(run: FetchRun) -> dict[str, Any]:
    """The API's view of a run; the page's script reads the same answer."""
    return {
        "id": run.pk,
        "mailbox": run.mailbox_id,
        "trigger": run.trigger,
        "state": state(run),
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "ok": run.ok,
        "new_messages": run.new_messages,
        "error_code": run.error_code,
        "error": run.error,
        "summary": summary(run),
    }


def latest_run(mailbox: Mailbox) -> FetchRun | None:
    """The newest run of ``mailbox``, finished or not."""
    return mailbox.fetch_runs.order_by("-queued_at", "-pk").first()
