"""The fetch's bulk writes: binary COPY and binary parameters on PostgreSQL
(``fetching/pgbulk.py``), the plain executemany on SQLite; the same results on both."""

from __future__ import annotations

import datetime as dt
import os
import threading

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from postkamer.fetching import pgbulk, store
from postkamer.fetching.models import FolderState
from postkamer.mail.imapfetch import FetchedMessage
from postkamer.messages import rawstore
from postkamer.messages.models import Attachment, Message, RawMessage
from tests import factories
from tests.fetching.conftest import make_message

postgres_only = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="the PostgreSQL bulk path"
)

ODD_TEXT = (
    "tab\there, back\\slash, \\N and \\. alone,\r\nCRLF, \u00e9\u00e8 \U0001f600, "
    "quote ' and \" and a NUL\x00 in the middle"
)


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _folder(mailbox) -> FolderState:
    return FolderState.objects.create(mailbox=mailbox, role="inbox", name="INBOX")


def _prepared(uid: int, raw: bytes) -> store.Prepared:
    when = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    return store.prepare(FetchedMessage(uid, raw, ("\\Seen",), when))


def _odd_message() -> bytes:
    body = ODD_TEXT.encode()
    return (
        b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.test>\r\n"
        b"Subject: " + ODD_TEXT.replace("\r\n", " ").encode() + b"\r\n"
        b"Message-ID: <odd@example.test>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + b"\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + body + b"</p>\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="a\\\\b\tc.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAP8A/wD/\r\n"
        b"--b--\r\n\x00\xff\xfe trailing bytes that are no UTF-8\r\n"
    )


@pytest.fixture
def mailbox(db, settings):
    settings.POSTKAMER_RAW_STORE = "database"
    return factories.mailbox(factories.tenant())


def test_odd_text_and_bytes_arrive_exactly_as_parsed(mailbox):
    raw = _odd_message()
    state = _folder(mailbox)
    item = _prepared(7, raw)
    result = store.store_batch(state, 42, [item])
    assert result.stored == 1
    message = Message.objects.get(mailbox=mailbox)
    # Exactly what the parser gave, except NUL, the one character PostgreSQL
    # cannot hold in text (removed on both databases).
    assert "\x00" in item.parsed.text and "\\N" in item.parsed.text
    assert message.text == item.parsed.text.replace("\x00", "")
    assert message.html == item.parsed.html.replace("\x00", "")
    assert message.subject == ODD_TEXT.replace("\r\n", " ").replace("\x00", "")
    assert "\t" in message.text and "\U0001f600" in message.html
    assert message.from_addresses == [{"name": "José", "address": "jose@example.test"}]
    assert message.uid == 7 and message.uidvalidity == 42 and message.seen_on_server
    assert message.internal_date == dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    (attachment,) = Attachment.objects.filter(message=message)
    assert attachment.filename == "a\\b\tc.bin"
    assert attachment.size == 6
    assert rawstore.read(message.raw) == raw
    assert bytes(message.raw.data) == raw


def test_a_batch_with_the_same_message_twice_stores_it_once(mailbox):
    raw = make_message("Twee keer")
    other = make_message("Anders")
    state = _folder(mailbox)
    result = store.store_batch(
        state, 1, [_prepared(1, raw), _prepared(2, raw), _prepared(3, other)]
    )
    assert (result.stored, result.skipped, result.last_uid) == (2, 1, 3)
    assert RawMessage.objects.count() == 2
    # The same bytes in a second mailbox share the raw row.
    second = factories.mailbox(mailbox.tenant)
    assert store.store_batch(_folder(second), 9, [_prepared(1, raw)]).stored == 1
    assert RawMessage.objects.count() == 2
    assert Message.objects.filter(raw__data=raw).count() == 2


def test_a_failed_row_insert_rolls_back_the_raw_bytes_and_the_mark(mailbox):
    state = _folder(mailbox)
    store.store_batch(state, 1, [_prepared(5, make_message("Eerst"))])
    before = RawMessage.objects.count()
    # UID 5 again under the same UIDVALIDITY, inserted behind the store's check:
    # the unique constraint refuses it, as a Django error on both databases.
    batch = [_prepared(6, make_message("Nieuw")), _prepared(5, make_message("Dubbel"))]
    with pytest.raises(IntegrityError), transaction.atomic():
        store._insert_raws(
            {
                item.sha256: (len(item.fetched.raw), rawstore.Location(data=item.fetched.raw))
                for item in batch
            }
        )
        raw_ids = store._raw_ids([item.sha256 for item in batch])
        store._insert_messages(
            [
                store._message_values(
                    mailbox.pk,
                    "inbox",
                    "INBOX",
                    1,
                    item,
                    raw_ids[item.sha256],
                    repaired=False,
                    fetched_at=dt.datetime.now(dt.UTC),
                )
                for item in batch
            ]
        )
    assert RawMessage.objects.count() == before
    assert Message.objects.filter(mailbox=mailbox).count() == 1
    state.refresh_from_db()
    assert state.last_uid == 5


@postgres_only
def test_bulk_writes_use_the_psycopg_connection_behind_djangos_wrapper(db):
    # pgbulk relies on two Django attributes its documentation does not describe:
    # this fails when either changes.
    connection.ensure_connection()
    assert isinstance(connection.connection, psycopg.Connection)
    with pgbulk.cursor() as cur:
        assert type(cur) is psycopg.Cursor
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    with connection.cursor() as django_cursor:
        django_cursor.execute("SELECT pg_backend_pid()")
        assert django_cursor.fetchone()[0] == backend
    with pytest.raises(IntegrityError), pgbulk.cursor():
        raise psycopg.errors.UniqueViolation("turned into Django's, like its own cursors do")


@postgres_only
def test_the_raw_insert_leaves_the_planner_setting_as_it_found_it(mailbox):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SHOW plan_cache_mode")
        before = cur.fetchone()[0]
        pgbulk.execute_many(
            "INSERT INTO mailmessages_rawmessage (sha256, size, data) VALUES (%s, %s, %s)",
            [("a" * 64, 1, b"\x00"), ("b" * 64, 2, b"\xff\x00")],
        )
        cur.execute("SHOW plan_cache_mode")
        assert cur.fetchone()[0] == before
    assert bytes(RawMessage.objects.get(sha256="b" * 64).data) == b"\xff\x00"


@postgres_only
def test_raw_bytes_land_uncompressed_and_text_with_lz4(mailbox):
    raw = make_message("Groot", body="Beste klant, " * 30_000)
    store.store_batch(_folder(mailbox), 1, [_prepared(1, raw)])
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_column_size(data), octet_length(data), pg_column_compression(data) "
            "FROM mailmessages_rawmessage"
        )
        stored, length, method = cur.fetchone()
        cur.execute("SELECT pg_column_compression(text) FROM mailmessages_message")
        text_method = cur.fetchone()[0]
        cur.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        lz4 = cur.fetchone()[0]
    # STORAGE EXTERNAL: 390 KB of one phrase would compress to a few KB otherwise.
    assert length == len(raw)
    assert stored >= len(raw)
    assert method is None
    assert text_method == ("lz4" if lz4 else "pglz")


def test_sqlite_never_goes_through_pgbulk(mailbox, monkeypatch):
    if _on_postgres():
        pytest.skip("SQLite only")
    called = []

    def record(*args, **kwargs):
        called.append(args)
        raise AssertionError("pgbulk used on SQLite")

    monkeypatch.setattr(pgbulk, "copy_rows", record)
    monkeypatch.setattr(pgbulk, "cursor", record)
    raw = _odd_message()
    assert store.store_batch(_folder(mailbox), 1, [_prepared(1, raw)]).stored == 1
    assert called == []


@postgres_only
def test_bytes_another_worker_stores_at_the_same_moment_are_shared(transactional_db, settings):
    settings.POSTKAMER_RAW_STORE = "database"
    mailbox = factories.mailbox(factories.tenant())
    raw = make_message("Tegelijk")
    item = _prepared(1, raw)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        ours = cur.fetchone()[0]
    inserted = threading.Event()
    seen: dict[str, object] = {}

    def other_worker() -> None:
        # Another worker, on a connection of its own, inserts the same bytes, and
        # commits only once our batch waits for it on the unique index: our batch
        # looked for the bytes before they were committed and did not find them.
        db = connection.settings_dict
        with psycopg.connect(
            dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"]
        ) as conn:
            seen["id"] = conn.execute(
                "INSERT INTO mailmessages_rawmessage (sha256, size, data) "
                "VALUES (%s, %s, %s) RETURNING id",
                [item.sha256, len(raw), raw],
            ).fetchone()[0]
            inserted.set()
            with psycopg.connect(
                dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"]
            ) as watcher:
                for _ in range(200):
                    wait = watcher.execute(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [ours]
                    ).fetchone()
                    if wait and wait[0] == "Lock":
                        seen["waited"] = True
                        break
                    threading.Event().wait(0.05)
            conn.commit()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert inserted.wait(10)
    try:
        result = store.store_batch(_folder(mailbox), 1, [item])
    finally:
        thread.join(20)
    assert seen.get("waited"), "our INSERT never met the other worker's row"
    assert result.stored == 1
    assert RawMessage.objects.count() == 1
    assert Message.objects.get(mailbox=mailbox).raw_id == seen["id"]


@postgres_only
def test_a_connection_lost_between_raw_and_message_rows_leaves_nothing_marked(
    transactional_db, settings
):
    settings.POSTKAMER_RAW_STORE = "database"
    mailbox = factories.mailbox(factories.tenant())
    state = _folder(mailbox)
    items = [_prepared(uid, make_message(f"Bericht {uid}")) for uid in (1, 2, 3)]
    # A real crash at that very point: the server ends our connection when the
    # message rows arrive, after the raw rows went in, before the commit.
    with connection.cursor() as cur:
        cur.execute(
            "CREATE FUNCTION pk_test_die() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
        )
        cur.execute(
            "CREATE TRIGGER pk_test_die BEFORE INSERT ON mailmessages_message "
            "FOR EACH STATEMENT EXECUTE FUNCTION pk_test_die()"
        )
    try:
        with pytest.raises(DatabaseError):
            store.store_batch(state, 1, items)
        connection.close()
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS pk_test_die ON mailmessages_message")
            cur.execute("DROP FUNCTION IF EXISTS pk_test_die()")
    assert not RawMessage.objects.exists()
    assert not Message.objects.exists()
    state.refresh_from_db()
    assert (state.uidvalidity, state.last_uid) == (None, 0)
    # The next run stores the batch in full.
    result = store.store_batch(state, 1, items)
    assert (result.stored, result.last_uid) == (3, 3)
    assert RawMessage.objects.count() == 3
