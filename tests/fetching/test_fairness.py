"""One office's slow mailboxes cannot take every worker thread: each tenant runs at
most its share of fetches at once, and the rest waits in the queue."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection
from huey.contrib.djhuey import HUEY

from bench.fairness import run_scenario
from postkamer.fetching import engine, lease
from postkamer.fetching.queue import request_fetch
from tests import factories


def test_a_tenant_at_its_share_waits_while_another_tenant_claims(db):
    office_a, office_b = factories.tenant(), factories.tenant()
    a1, a2 = factories.mailbox(office_a), factories.mailbox(office_a)
    b1 = factories.mailbox(office_b)
    token = lease.claim(a1.pk, share=1)
    assert token
    with pytest.raises(lease.ShareFull):
        lease.claim(a2.pk, share=1)
    assert lease.claim(a1.pk, share=1) is None  # held: busy, not "wait for the share"
    assert lease.claim(b1.pk, share=1)
    assert lease.release(a1.pk, token)
    assert lease.claim(a2.pk, share=1)  # a1's fetch ended: a2's turn


def test_a_run_over_its_share_goes_back_to_the_queue(db):
    office = factories.tenant()
    busy, waiting = factories.mailbox(office), factories.mailbox(office)
    lease.claim(busy.pk)
    run = request_fetch(waiting, enqueue=False)
    before = {task.id for task in HUEY.scheduled()}
    assert not engine.run_queued(run.pk, share=1)
    run.refresh_from_db()
    assert run.started_at is None and run.finished_at is None
    again = [task for task in HUEY.scheduled() if task.id not in before]
    assert [task.args for task in again] == [(run.pk,)]
    assert request_fetch(waiting).pk == run.pk  # still the mailbox's open run


@pytest.mark.django_db(transaction=True)
def test_claims_for_one_tenant_at_the_same_moment_stay_within_its_share():
    office = factories.tenant()
    boxes = [factories.mailbox(office) for _ in range(6)]
    start = threading.Barrier(len(boxes))
    results: list[str] = []

    def take(box) -> None:
        try:
            start.wait()
            try:
                results.append("claimed" if lease.claim(box.pk, share=2) else "busy")
            except lease.ShareFull:
                results.append("wait")
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["claimed"] * 2 + ["wait"] * 4


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL") is not None, reason="runs on its own SQLite data dir"
)
def test_two_dripping_mailboxes_of_one_office_do_not_delay_another_office(dovecot):
    # A real worker with 2 threads; office A's server drips a byte every 0.2 s,
    # so only the 6 s deadline (twice the 3 s time-out) ends its fetches.
    deadline = 6.0
    slow_1, slow_2, other = run_scenario(dovecot, drip=0.2, mail_timeout=3, share=None)
    # Office B is not stuck behind office A (without the share it waited ~6.5 s).
    assert other["ok"] is True
    assert other["finished"] < deadline / 2
    for slow in (slow_1, slow_2):
        assert slow["ok"] is False and slow["code"] == "timeout"
        assert slow["finished"] - slow["started"] < deadline + 2
    # One of office A's fetches waited for the other instead of taking the thread.
    first, second = sorted((slow_1, slow_2), key=lambda run: run["started"])
    assert second["started"] >= first["finished"] - 0.5
