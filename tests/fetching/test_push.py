"""Push: the watchers of one worker hold inboxes in IMAP IDLE on the real Dovecot,
with the leases in the real database (run in this process; the tests with
``postkamer worker`` processes are in ``test_push_workers.py``)."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

from postkamer.fetching import engine, hooks, push, queue
from postkamer.fetching.models import FetchRun, Watch, Worker
from postkamer.fetching.watchers import WatcherService
from postkamer.mailboxes.models import Mailbox
from tests.fetching.conftest import make_box, make_message

LEASE = 3.0


def wait_for(check: Callable[[], object], seconds: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what or check}")
        time.sleep(0.05)


@pytest.fixture
def service(transactional_db, settings, dovecot):
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    settings.POSTKAMER_WATCH_LEASE = LEASE
    started: list[WatcherService] = []

    def start(**kw) -> WatcherService:
        s = WatcherService(**kw)
        s.start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _state(mailbox: Mailbox) -> str:
    mailbox.refresh_from_db()
    return push.status(mailbox)[0]


def test_a_message_delivered_while_watched_is_stored_within_seconds(service, dovecot, imap_user):
    box = make_box(dovecot, *imap_user, interval_minutes=60)
    box.deliver(make_message("al bekend"))
    service()
    wait_for(lambda: _state(box.mailbox) == "idle", what="the watcher")
    # The watcher found the message that was there before it watched.
    wait_for(lambda: box.subjects() == ["al bekend"], what="the catch-up fetch")
    assert dovecot.idle_sessions(box.email) == 1

    delivered = time.monotonic()
    dovecot.deliver_lmtp(box.email, make_message("nieuw"), "klant@example.test")
    wait_for(lambda: "nieuw" in box.subjects(), seconds=10, what="the pushed message")
    took = time.monotonic() - delivered
    assert box.subjects() == ["al bekend", "nieuw"]
    runs = list(FetchRun.objects.filter(mailbox=box.mailbox).values_list("trigger", flat=True))
    assert runs and set(runs) == {"push"}
    # No interval passed: the next scheduled fetch is still an hour away.
    box.mailbox.refresh_from_db()
    assert box.mailbox.next_fetch_at is None or box.mailbox.next_fetch_at > timezone.now()
    print(f"delivered to stored: {took:.2f} s")


def test_an_idle_connection_the_server_drops_is_reestablished(service, dovecot, imap_user):
    box = make_box(dovecot, *imap_user, interval_minutes=60)
    service()
    wait_for(lambda: dovecot.idle_sessions(box.email) == 1, what="the IDLE session")
    dovecot.kick(box.email)
    wait_for(lambda: dovecot.idle_sessions(box.email) == 0, what="the drop")
    wait_for(lambda: dovecot.idle_sessions(box.email) == 1, seconds=15, what="the reconnect")
    dovecot.deliver_lmtp(box.email, make_message("na de onderbreking"), "a@example.test")
    wait_for(lambda: box.subjects() == ["na de onderbreking"], seconds=10)
    assert _state(box.mailbox) == "idle"


def test_a_server_without_idle_falls_back_to_polling(service, dovecot_without_idle, settings):
    # Both Dovecots use the same test CA.
    email, password = dovecot_without_idle.new_user()
    box = make_box(dovecot_without_idle, email, password, interval_minutes=1)
    service()
    wait_for(
        lambda: Watch.objects.filter(
            pk=box.mailbox.pk, state="polling", error_code="idle_unsupported"
        ).exists(),
        what="the watcher to give up on IDLE",
    )
    assert push.status(box.mailbox)[0] == "polling"
    box.deliver(make_message("gepeild"))
    # The schedule reads the inbox as it always did.
    assert engine.dispatch_due(timezone.now()) == 1
    wait_for(lambda: box.subjects() == ["gepeild"], what="the scheduled fetch")
    assert FetchRun.objects.get(mailbox=box.mailbox).trigger == "interval"


def test_a_watched_mailbox_is_polled_for_junk_and_sent_only(service, dovecot, imap_user):
    box = make_box(dovecot, *imap_user, interval_minutes=1, sent_folder="Sent")
    other = make_box(dovecot, *dovecot.new_user(), interval_minutes=1)
    service()
    wait_for(lambda: _state(box.mailbox) == "idle" and _state(other.mailbox) == "idle")
    box.deliver(make_message("verzonden"), folder="Sent")
    # Only the mailbox with a sent folder has anything to poll.
    assert engine.dispatch_due(timezone.now() + dt.timedelta(minutes=2)) == 1
    wait_for(lambda: box.subjects("sent") == ["verzonden"])
    run = FetchRun.objects.get(mailbox=box.mailbox)
    assert run.trigger == "interval" and run.ok
    assert not FetchRun.objects.filter(mailbox=other.mailbox).exists()


def test_a_mailbox_switched_off_after_errors_is_no_longer_watched(service, dovecot, imap_user):
    box = make_box(dovecot, *imap_user, interval_minutes=1, max_errors=2)
    service()
    wait_for(lambda: dovecot.idle_sessions(box.email) == 1, what="the IDLE session")
    mailbox = Mailbox.objects.get(pk=box.mailbox.pk)
    mailbox.imap_password = "niet-meer-goed"
    mailbox.save()
    # The watcher reconnects with the new (wrong) password and polls instead.
    wait_for(
        lambda: Watch.objects.filter(pk=mailbox.pk, error_code="auth_failed").exists(),
        what="the watcher's failed login",
    )
    assert dovecot.idle_sessions(box.email) == 0
    for minutes in (2, 4):
        engine.dispatch_due(timezone.now() + dt.timedelta(minutes=minutes))
    mailbox.refresh_from_db()
    assert mailbox.disabled_code == "too_many_errors"
    wait_for(lambda: Watch.objects.get(pk=mailbox.pk).state == "off", what="the release")
    assert Watch.objects.get(pk=mailbox.pk).worker is None
    assert push.status(mailbox)[0] == "off"
    time.sleep(LEASE)
    assert dovecot.idle_sessions(box.email) == 0


def test_stopping_hands_the_leases_back_at_once(service, dovecot, imap_user):
    box = make_box(dovecot, *imap_user, interval_minutes=5)
    watchers = service()
    wait_for(lambda: _state(box.mailbox) == "idle")
    worker = Worker.objects.get(pk=watchers.worker_id)
    assert worker.watching == 1 or wait_for(lambda: Worker.objects.get(pk=worker.pk).watching == 1)
    watchers.stop()
    watch = Watch.objects.get(pk=box.mailbox.pk)
    assert watch.worker is None and watch.lease_until is None and watch.state == "polling"
    worker.refresh_from_db()
    assert worker.stopped_at is not None
    assert _state(box.mailbox) == "polling"
    wait_for(lambda: dovecot.idle_sessions(box.email) == 0, seconds=5)


def test_news_during_a_running_fetch_gets_a_fetch_of_its_own(transactional_db, box):
    box.deliver(make_message("eerst"))
    announced: list[int] = []

    def during(point: str) -> None:
        if point == "after_commit" and not announced:
            # The fetch has searched the inbox already: this message is not in it.
            box.deliver(make_message("tijdens"))
            announced.append(push.new_mail(box.mailbox.pk).pk)

    run = queue.request_fetch(box.mailbox, trigger=FetchRun.Trigger.PUSH, enqueue=False)
    hooks.listeners.append(during)
    try:
        engine.run_queued(run.pk)
    finally:
        hooks.listeners.remove(during)
    assert announced == [run.pk]  # the news was added to the running run...
    assert box.subjects() == ["eerst", "tijdens"]  # ...which asked for one more
    runs = FetchRun.objects.filter(mailbox=box.mailbox).order_by("pk")
    assert [(r.trigger, r.ok, r.new_messages) for r in runs] == [
        ("push", True, 1),
        ("push", True, 1),
    ]


def test_news_for_a_queued_scheduled_run_makes_it_read_the_watched_inbox(transactional_db, box):
    Watch.objects.create(
        mailbox=box.mailbox,
        state="idle",
        lease_until=timezone.now() + dt.timedelta(minutes=1),
    )
    run = queue.request_fetch(box.mailbox, trigger=FetchRun.Trigger.INTERVAL, enqueue=False)
    box.deliver(make_message("nieuws"))
    assert push.new_mail(box.mailbox.pk).pk == run.pk
    assert engine.run_queued(run.pk)
    assert box.subjects() == ["nieuws"]
    assert FetchRun.objects.filter(mailbox=box.mailbox).count() == 1


def test_a_scheduled_run_of_a_watched_mailbox_leaves_the_inbox_to_the_watcher(
    transactional_db, box
):
    Watch.objects.create(
        mailbox=box.mailbox,
        state="idle",
        lease_until=timezone.now() + dt.timedelta(minutes=1),
    )
    box.deliver(make_message("voor de watcher"))
    run = queue.request_fetch(box.mailbox, trigger=FetchRun.Trigger.INTERVAL, enqueue=False)
    assert engine.run_queued(run.pk)
    assert box.subjects() == []
    Watch.objects.filter(pk=box.mailbox.pk).update(lease_until=timezone.now())  # its worker died
    run = queue.request_fetch(box.mailbox, trigger=FetchRun.Trigger.INTERVAL, enqueue=False)
    assert engine.run_queued(run.pk)
    assert box.subjects() == ["voor de watcher"]


def test_the_api_the_page_and_the_status_command_show_the_watch(
    service, dovecot, imap_user, client, api
):
    from django.core.management import call_command
    from django.urls import reverse

    from tests import factories

    box = make_box(dovecot, *imap_user, interval_minutes=5)
    manager = factories.user(box.mailbox.tenant, rights=("email_manager",))
    api.force_authenticate(manager)
    client.force_login(manager)
    url = f"/api/v1/mailboxes/{box.mailbox.pk}/"
    answer = api.get(url).json()
    assert (answer["push"], answer["push_since"]) == ("polling", None)  # never watched yet

    before = timezone.now()
    watchers = service()
    wait_for(lambda: api.get(url).json()["push"] == "idle", what="idle in the API")
    since = dt.datetime.fromisoformat(api.get(url).json()["push_since"])
    assert before <= since <= timezone.now()
    page = client.get(reverse("mailbox-edit", args=[box.mailbox.pk])).content.decode()
    assert 'data-push="idle"' in page and "IMAP IDLE" in page

    wait_for(lambda: Worker.objects.get(pk=watchers.worker_id).watching == 1)
    out = io.StringIO()
    call_command("status", stdout=out)
    name = Worker.objects.get(pk=watchers.worker_id).name
    row = next(line.split() for line in out.getvalue().splitlines() if line.startswith(name))
    # name, state, watching, leases, connections, running
    assert row[1:6] == ["live", "1", "1", "1", "0"], out.getvalue()

    watchers.stop()
    answer = api.get(url).json()
    assert answer["push"] == "polling"
    box.mailbox.set_interval(None)
    box.mailbox.save()
    assert api.get(url).json()["push"] == "off"
    page = client.get(reverse("mailbox-edit", args=[box.mailbox.pk])).content.decode()
    assert 'data-push="off"' in page


def _at_once(count: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(n)`` in ``count`` threads released together."""
    import threading

    from django.db import connection

    start = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(n: int) -> None:
        try:
            start.wait()
            results[n] = action(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_workers_claiming_at_the_same_moment_never_take_one_mailbox_twice(
    transactional_db, settings
):
    from tests import factories

    settings.POSTKAMER_WATCH_LEASE = 30
    tenant = factories.tenant()
    boxes = [factories.mailbox(tenant, interval_minutes=5) for _ in range(30)]
    workers = [push.register(f"w{n}", "host", n) for n in range(3)]
    taken = _at_once(3, lambda n: push.claim(workers[n], 30))
    assert sum(taken) == 30  # every mailbox once, whoever was first
    owners = dict(Watch.objects.values_list("pk", "worker_id"))
    assert sorted(owners) == sorted(b.pk for b in boxes) and None not in owners.values()
    # Renewing tells each worker exactly what it holds.
    held = [set(push.renew(w)) for w in workers]
    assert sum(len(h) for h in held) == 30 and set().union(*held) == set(owners)


def test_two_dispatchers_at_the_same_moment_queue_each_due_mailbox_once(transactional_db):
    from tests import factories

    tenant = factories.tenant()
    due = [factories.mailbox(tenant, interval_minutes=5) for _ in range(10)]
    # Both workers' schedules fire together (the runs themselves fail: no server).
    queued = _at_once(2, lambda n: engine.dispatch_due())
    assert sum(queued) == 10
    runs = FetchRun.objects.filter(mailbox__in=due)
    assert runs.count() == 10 and set(runs.values_list("trigger", flat=True)) == {"interval"}
