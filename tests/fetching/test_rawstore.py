"""The raw store: packed bytes byte-exact, the crash window, concurrent writers,
gc-raw, and rows of either kind readable whatever the setting."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from postkamer.fetching import store
from postkamer.mailboxes.models import Mailbox
from postkamer.messages import rawstore
from postkamer.messages.models import Message, RawMessage
from tests import factories
from tests.fetching.conftest import make_box, make_message


@pytest.fixture
def packs(settings, tmp_path):
    """The pack store in a data dir of its own, whatever the database."""
    settings.POSTKAMER_RAW_STORE = "pack"
    settings.DATA_DIR = tmp_path
    return tmp_path / "mail" / "packs"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pack_round_trip_is_byte_exact_including_30_mb(box, packs):
    body = ("y" * 76 + "\r\n") * (30 * 1024 * 1024 // 78)
    big = make_message("Groot", body=body)
    odd = b"Subject: Rare bytes\r\n\r\n\xff\xfe caf\xe9 \x01\r\n"
    small = make_message("Klein")
    for raw in (small, big, odd):
        box.deliver(raw)
    assert box.fetch().new_messages == 3
    by_subject = {m.subject: m for m in Message.objects.filter(mailbox=box.mailbox)}
    for subject, raw in (("Klein", small), ("Groot", big), ("Rare bytes", odd)):
        stored = by_subject[subject].raw
        assert stored.pack is not None and stored.offset is not None
        assert bytes(stored.data) == b""
        assert rawstore.read(stored) == raw
    assert rawstore.segments(packs) == [1]


def test_the_same_bytes_are_packed_once(box, packs, dovecot, imap_user):
    raw = make_message("Twee keer")
    box.deliver(raw)
    assert box.fetch().new_messages == 1
    size = rawstore.segment_path(1, packs).stat().st_size
    # Another mailbox holding the same bytes points at the same raw row.
    other = make_box(dovecot, *dovecot.new_user())
    other.deliver(raw)
    assert other.fetch().new_messages == 1
    assert rawstore.segment_path(1, packs).stat().st_size == size
    assert RawMessage.objects.filter(sha256=_sha(raw)).count() == 1


def test_crash_between_fsync_and_commit_leaves_only_an_unreferenced_tail(box, packs, monkeypatch):
    raw = make_message("Bijna")
    box.deliver(raw)
    real = store._insert_messages

    def crash(rows):
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(store, "_insert_messages", crash)
    with pytest.raises(RuntimeError):
        box.fetch()
    # The bytes were appended and fsynced, but no row points at them.
    assert not Message.objects.filter(mailbox=box.mailbox).exists()
    assert not RawMessage.objects.exists()
    tail = rawstore.segment_path(1, packs).stat().st_size
    assert tail == len(raw)

    monkeypatch.setattr(store, "_insert_messages", real)
    box.mailbox.lease_until = None
    Mailbox.objects.filter(pk=box.mailbox.pk).update(lease_until=None, lease_token="")
    assert box.fetch().new_messages == 1
    message = Message.objects.get(mailbox=box.mailbox)
    # Appended after the dead tail, not over it, and stored once.
    assert message.raw.offset == tail
    assert rawstore.read(message.raw) == raw
    assert RawMessage.objects.count() == 1
    assert box.fetch().new_messages == 0


def test_concurrent_writers_never_interleave(packs):
    batches = {
        n: [(_sha(d), d) for d in (bytes([65 + n]) * (50_000 + i * 997) for i in range(20))]
        for n in range(6)
    }
    results: dict[int, dict[str, rawstore.Location]] = {}
    start = threading.Barrier(len(batches))

    def write(n: int) -> None:
        start.wait()
        for i in range(0, 20, 5):
            with rawstore.session("pack") as writer:
                results.setdefault(n, {}).update(writer.put_batch(batches[n][i : i + 5]))

    threads = [threading.Thread(target=write, args=(n,)) for n in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = []
    for n, items in batches.items():
        for sha, data in items:
            loc = results[n][sha]
            assert rawstore.read_location(loc.pack, loc.offset, len(data), packs) == data
            spans.append((loc.offset, loc.offset + len(data)))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    total = sum(len(d) for items in batches.values() for _s, d in items)
    assert rawstore.segment_path(1, packs).stat().st_size == total


def test_a_full_segment_rotates(packs):
    first = rawstore.PackSession(packs, limit=100)
    try:
        a = first.put_batch([(_sha(b"a" * 80), b"a" * 80)])
        b = first.put_batch([(_sha(b"b" * 80), b"b" * 80)])
    finally:
        first.close()
    assert (a[_sha(b"a" * 80)].pack, b[_sha(b"b" * 80)].pack) == (1, 2)
    assert rawstore.read_location(2, 0, 80, packs) == b"b" * 80


def test_gc_raw_reclaims_a_deleted_mailbox_and_keeps_live_mail(box, packs, dovecot):
    gone = make_box(dovecot, *dovecot.new_user())
    for i in range(3):
        gone.deliver(make_message(f"Weg {i}", body="z" * 200_000))
    assert gone.fetch().new_messages == 3
    kept = make_message("Blijft")
    box.deliver(kept)
    assert box.fetch().new_messages == 1
    gone.mailbox.delete()
    assert RawMessage.objects.count() == 4

    call_command("gc_raw", stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert RawMessage.objects.count() == 1
    message = Message.objects.get(mailbox=box.mailbox)
    assert rawstore.read(message.raw) == kept
    assert message.raw.pack != 1
    assert not rawstore.segment_path(1, packs).exists()
    assert sum(
        rawstore.segment_path(n, packs).stat().st_size for n in rawstore.segments(packs)
    ) == len(kept)
    # New mail still goes in after a collection.
    box.deliver(make_message("Daarna"))
    assert box.fetch().new_messages == 1
    for m in Message.objects.filter(mailbox=box.mailbox):
        assert rawstore.read(m.raw).startswith(b"From:")


def test_gc_raw_leaves_mostly_live_segments_alone(box, packs):
    box.deliver(make_message("Een"))
    box.deliver(make_message("Twee"))
    assert box.fetch().new_messages == 2
    result = rawstore.collect_garbage()
    assert (result.rows_deleted, result.segments_rewritten) == (0, 0)
    assert rawstore.segments(packs) == [1]


def test_database_rows_stay_readable_with_pack_selected(db, packs, api):
    tenant = factories.tenant()
    owner = factories.user(tenant)
    mailbox = factories.mailbox(tenant, owners=(owner,))
    msg = factories.message(mailbox, subject="Oud")  # bytes in RawMessage.data
    assert msg.raw.pack is None
    raw = bytes(msg.raw.data)
    assert rawstore.read(msg.raw) == raw
    api.force_authenticate(owner)
    # The download is streamed (messages/downloads.py).
    assert b"".join(api.get(f"/api/v1/messages/{msg.pk}/raw/").streaming_content) == raw


def test_raw_download_returns_the_packed_bytes(box, packs, api):
    raw = make_message("Download", body="r\u00e9gel\r\n" * 1000)
    box.deliver(raw)
    assert box.fetch().new_messages == 1
    message = Message.objects.get(mailbox=box.mailbox)
    assert message.raw.pack is not None
    api.force_authenticate(box.mailbox.owner_users.first())
    response = api.get(f"/api/v1/messages/{message.pk}/raw/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == raw


def test_database_store_keeps_bytes_in_the_row(box, settings):
    settings.POSTKAMER_RAW_STORE = "database"
    raw = make_message("In de database")
    box.deliver(raw)
    assert box.fetch().new_messages == 1
    stored = Message.objects.get(mailbox=box.mailbox).raw
    assert stored.pack is None and bytes(stored.data) == raw
    assert rawstore.read(stored) == raw


def test_default_store_follows_the_database(monkeypatch):
    from postkamer import envconf

    monkeypatch.delenv("POSTKAMER_RAW_STORE", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert envconf.raw_store() == "pack"
    monkeypatch.setenv("DATABASE_URL", "postgres://x@127.0.0.1/y")
    assert envconf.raw_store() == "database"
    monkeypatch.setenv("POSTKAMER_RAW_STORE", "pack")
    assert envconf.raw_store() == "pack"
    assert connection.vendor in {"sqlite", "postgresql"}


def _direct_flag(fd: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0))


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")
def test_a_large_batch_goes_past_the_page_cache_aligned_and_byte_exact(packs, monkeypatch):
    small = [(_sha(d), d) for d in (b"klein %d\r\n" % i for i in range(3))]
    large = [(_sha(d), d) for d in (bytes([i]) * (300_001 + i) for i in range(1, 5))]
    seen: list[bool] = []
    real = rawstore._write_aligned

    def spy(fd, chunks, offset):
        seen.append(_direct_flag(fd))
        return real(fd, chunks, offset)

    monkeypatch.setattr(rawstore, "_write_aligned", spy)
    with rawstore.session("pack") as writer:
        first = writer.put_batch(small)
        second = writer.put_batch(large)
        third = writer.put_batch([(_sha(b"na"), b"na")])
    # Small batches are written as they are, unpadded; the large one starts at a
    # block boundary, goes through O_DIRECT and is padded to the next boundary.
    assert seen == [True]
    starts = sorted(loc.offset for loc in second.values())
    assert starts[0] % rawstore.ALIGN == 0
    assert starts[0] == rawstore.ALIGN  # after the three small messages
    large_end = starts[0] + sum(len(d) for _s, d in large)
    assert third[_sha(b"na")].offset == -(-large_end // rawstore.ALIGN) * rawstore.ALIGN
    size = rawstore.segment_path(1, packs).stat().st_size
    assert size == third[_sha(b"na")].offset + 2
    for sha, data in small + large:
        loc = {**first, **second}[sha]
        assert rawstore.read_location(loc.pack, loc.offset, len(data), packs) == data


def test_a_filesystem_that_refuses_direct_io_gets_buffered_writes(packs, monkeypatch):
    real_open = os.open

    def no_direct(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(rawstore.os, "open", no_direct)
    big = b"\x00\xffgroot\r\n" * 200_000
    with rawstore.session("pack") as writer:
        loc = writer.put_batch([(_sha(big), big)])[_sha(big)]
    assert loc.offset == 0
    assert rawstore.segment_path(1, packs).stat().st_size == len(big)
    assert rawstore.read_location(1, 0, len(big), packs) == big


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")
def test_a_direct_write_refused_midway_is_retried_through_the_page_cache(packs, monkeypatch):
    real_pwrite = os.pwrite
    refused: list[int] = []

    def picky(fd, data, offset):
        if _direct_flag(fd) and not refused:
            refused.append(fd)
            raise OSError(22, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(rawstore.os, "pwrite", picky)
    big = bytes(range(256)) * 30_000
    with rawstore.session("pack") as writer:
        loc = writer.put_batch([(_sha(big), big)])[_sha(big)]
        assert not _direct_flag(refused[0])
    assert rawstore.read_location(loc.pack, loc.offset, len(big), packs) == big
