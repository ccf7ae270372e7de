"""One open run per mailbox: presses while a fetch is queued or running return that
run, in the UI, the API and on the command line; and only scheduled fetches count
toward switching a mailbox off."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from postkamer.fetching import engine, queue
from postkamer.fetching.models import FetchRun
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.fetching.conftest import make_message


def test_300_presses_while_a_fetch_is_queued_give_one_run(api, office):
    # The worker has not picked the run up (tasks run on commit, and there is no
    # commit in this test), so every press finds it queued.
    api.force_authenticate(office.advisor)
    url = f"/api/v1/mailboxes/{office.mailbox.pk}/fetch/"
    answers = {api.post(url).json()["fetch_run"] for _ in range(300)}
    assert len(answers) == 1
    assert FetchRun.objects.filter(mailbox=office.mailbox).count() == 1


def test_the_button_in_the_e_mail_module_returns_the_open_run_too(client, office):
    client.force_login(office.advisor)
    url = f"/email/{office.mailbox.pk}/fetch/"
    first = client.post(url, HTTP_ACCEPT="application/json")
    second = client.post(url, HTTP_ACCEPT="application/json")
    assert first.status_code == second.status_code == 202
    assert first.json()["fetch_run"] == second.json()["fetch_run"]
    assert client.post(url).status_code == 302  # without JavaScript: back to the page
    assert FetchRun.objects.filter(mailbox=office.mailbox).count() == 1


def test_a_press_while_the_fetch_runs_returns_the_running_run(office):
    run = request_fetch(office.mailbox)
    FetchRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
    token = engine.claim(office.mailbox.pk)
    assert request_fetch(office.mailbox).pk == run.pk
    FetchRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), ok=True)
    engine.release(office.mailbox.pk, token)
    assert request_fetch(office.mailbox).pk != run.pk


def test_a_run_whose_worker_stopped_does_not_block_the_button(office):
    long_ago = timezone.now() - dt.timedelta(hours=1)
    running = request_fetch(office.mailbox)
    # Started an hour ago, and the mailbox's lease is gone: the worker died.
    FetchRun.objects.filter(pk=running.pk).update(started_at=long_ago)
    fresh = request_fetch(office.mailbox)
    running.refresh_from_db()
    assert fresh.pk != running.pk
    assert running.finished_at and running.ok is False and running.error_code == "abandoned"
    # A queued run whose task was lost is replaced as well.
    FetchRun.objects.filter(pk=fresh.pk).update(queued_at=long_ago)
    assert request_fetch(office.mailbox).pk != fresh.pk
    assert FetchRun.objects.filter(mailbox=office.mailbox, finished_at__isnull=True).count() == 1


def test_a_run_taken_by_one_runner_is_not_run_again_by_another(box):
    box.deliver(make_message("Eenmaal"))
    run = request_fetch(box.mailbox)
    assert engine.run_queued(run.pk)
    assert not engine.run_queued(run.pk)
    run.refresh_from_db()
    assert run.ok and run.new_messages == 1


def test_the_fetch_command_runs_the_run_the_button_queued(box, capsys):
    box.deliver(make_message("Via de knop en de opdrachtregel"))
    queued = request_fetch(box.mailbox)
    call_command("fetch", str(box.mailbox.pk))
    queued.refresh_from_db()
    assert queued.ok and queued.new_messages == 1 and queued.trigger == "button"
    assert FetchRun.objects.filter(mailbox=box.mailbox).count() == 1
    assert box.mailbox.name in capsys.readouterr().out


def test_failed_button_presses_do_not_switch_the_mailbox_off(box, dovecot):
    Mailbox.objects.filter(pk=box.mailbox.pk).update(max_errors=2)
    dovecot.set_password(box.email, "een-ander-wachtwoord")
    for _ in range(6):
        run = request_fetch(box.mailbox)
        assert not engine.run_queued(run.pk)
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 0 and not box.mailbox.is_disabled
    assert box.mailbox.last_error_code == "auth_failed"
    for _ in range(2):
        run = request_fetch(box.mailbox, trigger=FetchRun.Trigger.INTERVAL)
        assert not engine.run_queued(run.pk)
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 2 and box.mailbox.disabled_code == "too_many_errors"
    assert box.mailbox.interval_minutes is None


@pytest.mark.django_db(transaction=True)
def test_requests_at_the_same_moment_open_one_run():
    mailbox = factories.mailbox(factories.tenant())
    start = threading.Barrier(6)
    runs: list[int] = []

    def press() -> None:
        try:
            start.wait()
            runs.append(request_fetch(mailbox, enqueue=False).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=press) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(runs) == 6 and len(set(runs)) == 1
    assert queue.open_run(mailbox).pk == runs[0]


@pytest.mark.django_db(transaction=True)
def test_the_fetch_command_waits_for_the_run_the_worker_has(capsys):
    mailbox = factories.mailbox(factories.tenant(), name="Hypotheken")
    run = request_fetch(mailbox, enqueue=False)
    # A worker has taken the run and holds the mailbox; it finishes in a moment.
    FetchRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
    token = engine.claim(mailbox.pk)

    def worker_finishes() -> None:
        try:
            FetchRun.objects.filter(pk=run.pk).update(
                finished_at=timezone.now(), ok=True, new_messages=2
            )
            engine.release(mailbox.pk, token)
        finally:
            connection.close()

    timer = threading.Timer(1.0, worker_finishes)
    timer.start()
    call_command("fetch", str(mailbox.pk))
    timer.join()
    out = capsys.readouterr()
    assert "Wachten op de ophaalactie die al loopt" in out.err
    assert "Hypotheken: 2 nieuwe berichten" in out.out
    assert FetchRun.objects.filter(mailbox=mailbox).count() == 1
