from __future__ import annotations

from postkamer.messages.models import Message
from tests.fetching.conftest import make_message


def test_a_new_mailbox_fetches_its_inbox_once(box):
    box.deliver(make_message("Eerste"))
    box.deliver(make_message("Tweede"), flags=["\\Seen"])
    outcome = box.fetch()
    assert outcome.ok, outcome.error
    assert outcome.new_messages == 2
    assert box.subjects() == ["Eerste", "Tweede"]
    assert box.fetch().new_messages == 0
    box.deliver(make_message("Derde"))
    assert box.fetch().new_messages == 1
    assert Message.objects.filter(mailbox=box.mailbox).count() == 3
    assert Message.objects.get(subject="Tweede").seen_on_server


def test_an_unchanged_mailbox_costs_one_status_on_the_kept_open_connection(box, monkeypatch):
    from postkamer.fetching import engine
    from postkamer.mail import imap, imapfetch

    box.deliver(make_message("Een"))
    box.fetch()
    assert len(engine.pool) == 1
    calls = []
    real_status = imapfetch.status

    def status(conn, folder):
        calls.append(folder)
        return real_status(conn, folder)

    def forbidden(*args, **kwargs):
        raise AssertionError("not needed for an unchanged mailbox")

    monkeypatch.setattr(imapfetch, "status", status)
    monkeypatch.setattr(imapfetch, "examine", forbidden)
    monkeypatch.setattr(imap, "connect", forbidden)
    outcome = box.fetch()
    assert outcome.ok and outcome.new_messages == 0
    assert calls == ["INBOX"]


def test_idle_connections_are_pruned(box):
    from postkamer.fetching import engine

    box.fetch()
    assert engine.pool.prune() == 0
    engine.pool.idle_seconds = 0
    try:
        assert engine.pool.prune() == 1
    finally:
        engine.pool.idle_seconds = engine.POOL_IDLE_SECONDS
    assert len(engine.pool) == 0


def test_a_bulk_fetch_with_background_checkpoints_stores_everything(box, monkeypatch):
    from django.db import connection

    from postkamer.fetching import reader

    monkeypatch.setattr(reader, "BACKGROUND_CHECKPOINT_FROM", 2)
    monkeypatch.setattr(reader, "BATCH_MESSAGES", 2)
    for i in range(5):
        box.deliver(make_message(f"Bulk {i}"))
    assert box.fetch().new_messages == 5
    assert box.subjects() == [f"Bulk {i}" for i in range(5)]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] > 0  # restored afterwards


def test_the_pool_keeps_at_most_max_size_connections_least_recently_used_first():
    from postkamer.fetching.engine import ConnectionPool, pool_size

    class FakeConnection:
        closed = False

        def shutdown(self) -> None:
            self.closed = True

    assert 16 <= pool_size() <= 1000
    pool = ConnectionPool(max_size=2)
    conns = {n: FakeConnection() for n in (1, 2, 3)}
    pool.give_back(1, "k", conns[1])
    pool.give_back(2, "k", conns[2])
    # Mailbox 1 is used again, so mailbox 2's connection is now the oldest.
    assert pool.take(1, "k") is conns[1]
    pool.give_back(1, "k", conns[1])
    pool.give_back(3, "k", conns[3])
    assert len(pool) == 2
    assert conns[2].closed and not conns[1].closed and not conns[3].closed
    assert pool.take(2, "k") is None
    assert pool.take(3, "k") is conns[3]


def test_the_pool_size_follows_the_file_limit_and_the_worker_raises_it():
    import resource

    from postkamer.fetching import engine

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        assert engine.pool_size() == 128
        assert engine.raise_file_limit(wanted=600) == min(600, hard)
        assert engine.pool_size() == min(300, hard // 2)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
