"""The dispatcher, queued runs, the claim and the ``postkamer fetch`` command."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from postkamer.fetching import engine
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.fetching.conftest import make_message


def test_a_claim_is_exclusive_until_released_or_expired(db):
    mailbox = factories.mailbox(factories.tenant())
    token = engine.claim(mailbox.pk)
    assert token and engine.claim(mailbox.pk) is None
    engine.renew(mailbox.pk, token)
    assert engine.release(mailbox.pk, token)
    other = engine.claim(mailbox.pk)
    assert other
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_until=timezone.now())
    third = engine.claim(mailbox.pk)
    assert third and third != other
    with pytest.raises(engine.LeaseLost):
        engine.renew(mailbox.pk, other)
    assert not engine.release(mailbox.pk, other)


def test_dispatch_queues_due_mailboxes_once(box, django_capture_on_commit_callbacks):
    box.deliver(make_message("Via het interval"))
    tenant = box.mailbox.tenant
    off = factories.mailbox(tenant, interval_minutes=None)
    disabled = factories.mailbox(tenant, disabled_code="too_many_errors")
    later = factories.mailbox(tenant, next_fetch_at=timezone.now() + dt.timedelta(minutes=3))
    # Tasks run inline on commit in tests (POSTKAMER_HUEY_IMMEDIATE).
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.dispatch_due() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.dispatch_due() == 0
    run = FetchRun.objects.get(mailbox=box.mailbox)
    assert run.trigger == "interval" and run.ok and run.new_messages == 1
    box.mailbox.refresh_from_db()
    assert box.mailbox.next_fetch_at > timezone.now() + dt.timedelta(minutes=4)
    assert not FetchRun.objects.filter(mailbox__in=[off, disabled, later]).exists()


def queue(mailbox, capture):
    with capture(execute=True):
        run = request_fetch(mailbox)
    run.refresh_from_db()
    return run


def test_a_queued_run_records_its_result(box, django_capture_on_commit_callbacks):
    box.deliver(make_message("Knop"))
    run = queue(box.mailbox, django_capture_on_commit_callbacks)
    assert run.ok is True
    assert run.new_messages == 1
    assert run.started_at and run.finished_at


def test_a_run_while_the_mailbox_is_claimed_is_skipped_not_failed(
    box, django_capture_on_commit_callbacks
):
    token = engine.claim(box.mailbox.pk)
    run = queue(box.mailbox, django_capture_on_commit_callbacks)
    assert run.ok is None and run.error_code == "busy"
    assert run.error == "Er liep al een andere ophaalactie voor deze mailbox; deze is overgeslagen."
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 0
    engine.release(box.mailbox.pk, token)


def test_a_failed_run_has_the_dutch_error(box, dovecot, django_capture_on_commit_callbacks):
    dovecot.set_password(box.email, "anders")
    run = queue(box.mailbox, django_capture_on_commit_callbacks)
    assert run.ok is False
    assert run.error_code == "auth_failed"
    assert run.error == "De gebruikersnaam of het wachtwoord klopt niet."


def test_the_fetch_command_prints_a_summary(box, capsys):
    box.deliver(make_message("Via de opdrachtregel"))
    call_command("fetch", str(box.mailbox.pk))
    out = capsys.readouterr()
    assert "1 " in out.out and box.mailbox.name in out.out
    assert FetchRun.objects.get(mailbox=box.mailbox).trigger == "command"


def test_the_fetch_command_fails_with_the_user_facing_error(box, dovecot):
    dovecot.set_password(box.email, "anders")
    with pytest.raises(CommandError, match="wachtwoord klopt niet"):
        call_command("fetch", str(box.mailbox.pk))


def test_an_unexpected_failure_still_finishes_the_run(
    box, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(engine, "sync", broken)
    run = FetchRun.objects.create(mailbox=box.mailbox, trigger="button")
    with pytest.raises(RuntimeError):
        engine.run_queued(run.pk)
    run.refresh_from_db()
    assert run.ok is False and run.error_code == "internal_error" and run.finished_at
    box.mailbox.refresh_from_db()
    assert box.mailbox.lease_until is None


def test_the_progress_bar_shows_messages_and_megabytes():
    import io

    from postkamer.fetching.management.commands.fetch import _ProgressBar

    out = io.StringIO()
    bar = _ProgressBar(out)
    bar(0, 0, 0)  # nothing to do yet: nothing drawn
    bar(5, 10, 2_500_000)
    bar(10, 10, 5_000_000)
    bar.finish()
    text = out.getvalue()
    assert "5/10 2.5 MB" in text and "10/10 5.0 MB" in text and text.endswith("\n")


def test_a_lease_is_free_once_its_worker_stops_or_falls_silent_and_not_before(db, settings):
    from postkamer.fetching.models import Worker

    settings.POSTKAMER_WATCH_LEASE = 30.0
    tenant = factories.tenant()
    mailbox, other = factories.mailbox(tenant), factories.mailbox(tenant)
    worker = Worker.objects.create(name="w", host="h", pid=1)
    token = engine.claim(mailbox.pk, worker=worker.pk)
    assert token and engine.claim(mailbox.pk) is None
    # Its office runs one fetch: with a share of one, the other mailbox waits.
    with pytest.raises(engine.ShareFull):
        engine.claim(other.pk, share=1)

    Worker.objects.filter(pk=worker.pk).update(last_seen=timezone.now() - dt.timedelta(seconds=31))
    assert engine.claim(other.pk, share=1)  # a dead worker's fetch no longer counts
    taken = engine.claim(mailbox.pk)
    assert taken and Mailbox.objects.get(pk=mailbox.pk).lease_worker is None
    with pytest.raises(engine.LeaseLost):
        engine.renew(mailbox.pk, token)

    stopped = Worker.objects.create(name="s", host="h", pid=2)
    engine.release(mailbox.pk, taken)
    assert engine.claim(mailbox.pk, worker=stopped.pk)
    Worker.objects.filter(pk=stopped.pk).update(stopped_at=timezone.now())
    assert engine.claim(mailbox.pk)
