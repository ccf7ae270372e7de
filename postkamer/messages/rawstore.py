"""Where the raw bytes of fetched messages live: the database or append-only packs.

Two backends, chosen by ``settings.POSTKAMER_RAW_STORE``:

``database``
    The bytes go into ``RawMessage.data`` inside the batch's transaction. Every
    process that can reach the database can read them, which is what a scaled-out
    deployment (``DATABASE_URL``, several machines) needs.

``pack``
    The bytes are appended to segment files ``DATA_DIR/mail/packs/NNNNNN.pack``
    (a new segment after ``SEGMENT_LIMIT`` bytes), a few large writes and one
    ``fsync`` per batch, and the row records ``(pack, offset)``. SQLite then
    only writes small rows instead of writing every byte twice through its WAL.

Direct I/O: a batch of at least ``DIRECT_FROM`` bytes (the bulk of an initial
sync) is written with ``O_DIRECT``, past the page cache, where the filesystem
allows it. The bytes are fsynced at once and rarely read back soon, so caching
them buys nothing, while filling a gigabyte of fresh page-cache pages cost more
CPU than the whole download on the virtual machines we measured
(``bench/README.md``). Direct writes need block-aligned offsets, lengths and
buffers: such a batch is copied through a reused, page-aligned staging buffer
and starts at an ``ALIGN`` boundary, its tail padded with zeros (dead bytes,
like a crashed writer's tail). Smaller batches, an interval fetch's few
messages, go through the page cache unpadded, and so does everything where
``O_DIRECT`` is refused.

Durability and ordering (docs/product.md, Fetching: lose nothing): :meth:`PackSession.put_batch`
returns only after the bytes (and, for a new segment, the directory entry) are
fsynced, and the caller commits the rows that point at them afterwards; the
fetch uses :meth:`PackSession.begin_batch`, which writes in a helper thread while
the rows are inserted and is waited for before the commit. A crash
in between leaves bytes nobody points at at the end of a segment; the next
append starts at the file's real end (``lseek(SEEK_END)`` under the lock), never
at a remembered one, and ``gc-raw`` reclaims the tail.

Concurrency: appends take an exclusive ``flock`` on ``packs/append.lock``, so
two writers (threads or processes) never interleave. A writer also holds a
*shared* ``flock`` on the segment it wrote to until its transaction has ended
(the :func:`session` context); ``gc-raw`` takes an *exclusive* lock on a
segment before it looks for the rows in it, so it never misses rows that are
about to be committed. Writers only ever append to the newest segment, and the
garbage collector only rewrites older ("sealed") ones, so the two locks are
always taken in the same order and cannot deadlock.

Rows say where their bytes are (``pack`` NULL = in ``data``), so :func:`read`
works for both kinds whatever the current setting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Sum

from postkamer.messages.models import RawMessage

DATABASE = "database"
PACK = "pack"
CHOICES = (DATABASE, PACK)

#: A new segment is started once the current one would grow past this.
SEGMENT_LIMIT = 1 << 30
_SUFFIX = ".pack"
_APPEND_LOCK = "append.lock"
_GC_LOCK = "gc.lock"

#: Write large batches with O_DIRECT where the filesystem allows it (module docstring).
DIRECT_IO = hasattr(os, "O_DIRECT")
#: Batches smaller than this go through the page cache (no padding).
DIRECT_FROM = 1 << 20
#: Alignment of direct writes: covers devices with 512- and 4096-byte blocks.
ALIGN = 4096
#: Size of one staging buffer, the unit of a direct write.
STAGING_BYTES = 4 << 20


class RawMissing(Exception):
    """The bytes a row points at are gone or do not match its SHA-256."""


@dataclass(frozen=True)
class Location:
    """Where one message's bytes went: a pack segment and offset, or (database
    store) the bytes themselves, to be written into the row."""

    pack: int | None = None
    offset: int | None = None
    data: bytes = b""


def current_kind() -> str:
    """Return the configured backend name (``pack`` or ``database``)."""
    return getattr(settings, "POSTKAMER_RAW_STORE", DATABASE)


def packs_dir() -> Path:
    """Return the directory of the pack segments (not created here)."""
    return Path(settings.DATA_DIR) / "mail" / "packs"


def segment_path(number: int, directory: Path | None = None) -> Path:
    """Return the file name of segment ``number``."""
    return (directory or packs_dir()) / f"{number:06d}{_SUFFIX}"


def segments(directory: Path | None = None) -> list[int]:
    """Return the numbers of the existing segments, oldest first."""
    directory = directory or packs_dir()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(
        int(name[: -len(_SUFFIX)])
        for name in names
        if name.endswith(_SUFFIX) and name[: -len(_SUFFIX)].isdigit()
    )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    # The directory entries must survive a crash as well as the files in them.
    _fsync_dir(directory)
    _fsync_dir(directory.parent)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _nothing() -> None:
    return None


def _align(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset``, continuing after short writes.

    A filesystem that opened the file with ``O_DIRECT`` but refuses a direct
    write (EINVAL) gets the flag cleared and the write retried through the
    page cache.
    """
    done = 0
    while done < len(data):
        try:
            done += os.pwrite(fd, data[done:], offset + done)
        except OSError as exc:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if exc.errno != errno.EINVAL or not flags & getattr(os, "O_DIRECT", 0):
                raise
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)


class _StagingPool:
    """Page-aligned buffers for direct writes, reused so that a bulk fetch does
    not fault in fresh memory for every batch."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._free: list[mmap.mmap] = []

    def take(self) -> mmap.mmap:
        """Return a free buffer of ``STAGING_BYTES`` (anonymous mmap: page-aligned)."""
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, STAGING_BYTES)

    def give_back(self, buf: mmap.mmap) -> None:
        """Keep ``buf`` for the next writer, or unmap it when enough are kept."""
        with self._lock:
            if len(self._free) < self.keep and len(buf) == STAGING_BYTES:
                self._free.append(buf)
                return
        buf.close()


_staging = _StagingPool()


def _write_buffered(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` back to back from ``offset`` with as few system calls as
    possible: ``pwritev`` takes at most IOV_MAX buffers and may write short, so
    the loop continues where it stopped without copying the batch."""
    limit = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
    views = [memoryview(c) for c in chunks if c]
    while views:
        written = os.pwritev(fd, views[:limit], offset)
        offset += written
        while written and views:
            first = views[0]
            if written >= len(first):
                written -= len(first)
                views.pop(0)
            else:
                views[0] = first[written:]
                written = 0


def _write_aligned(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` back to back from ``offset`` (an ``ALIGN`` multiple) in
    ``STAGING_BYTES`` writes through a staging buffer; the last write is padded
    with zeros to an ``ALIGN`` boundary, so every write suits ``O_DIRECT``."""
    buf = _staging.take()
    view = memoryview(buf)
    try:
        size = len(view)
        fill = 0
        for chunk in chunks:
            data = memoryview(chunk)
            pos = 0
            while pos < len(data):
                n = min(len(data) - pos, size - fill)
                view[fill : fill + n] = data[pos : pos + n]
                fill += n
                pos += n
                if fill == size:
                    _pwrite_all(fd, view, offset)
                    offset += fill
                    fill = 0
            data.release()
        if fill:
            end = _align(fill)
            view[fill:end] = bytes(end - fill)
            _pwrite_all(fd, view[:end], offset)
    finally:
        view.release()
        _staging.give_back(buf)


def _open_direct(path: Path) -> int | None:
    """Open a segment for direct writes; None where ``O_DIRECT`` is refused."""
    if not DIRECT_IO:
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return None


class PackSession:
    """Appends batches to the newest segment; see the module docstring.

    Holds a shared lock on every segment it wrote to until :meth:`close`, which
    the caller runs after its transaction has committed or rolled back.
    """

    def __init__(self, directory: Path | None = None, limit: int = SEGMENT_LIMIT) -> None:
        self.directory = directory or packs_dir()
        self.limit = limit
        self._pins: dict[int, int] = {}
        self._direct: dict[int, int | None] = {}
        self._writers: list[threading.Thread] = []

    def _pin(self, number: int) -> int:
        fd = self._pins.get(number)
        if fd is None:
            # Not O_APPEND: writes go to the reserved offset.
            fd = os.open(segment_path(number, self.directory), os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            except BaseException:
                os.close(fd)
                raise
            self._pins[number] = fd
        return fd

    def _direct_fd(self, number: int) -> int | None:
        """A second descriptor of pinned segment ``number`` with ``O_DIRECT``, or
        None where the filesystem refuses it."""
        if number not in self._direct:
            self._direct[number] = _open_direct(segment_path(number, self.directory))
        return self._direct[number]

    def _segment_for(self, size: int) -> int:
        """Return the segment to append ``size`` bytes to (under the append lock)."""
        numbers = segments(self.directory)
        if numbers:
            current = numbers[-1]
            end = os.stat(segment_path(current, self.directory)).st_size
            if end == 0 or _align(end) + _align(size) <= self.limit:
                return current
        return self._new_segment(numbers[-1] + 1 if numbers else 1)

    def _new_segment(self, number: int) -> int:
        fd = os.open(
            segment_path(number, self.directory), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )
        os.close(fd)
        _fsync_dir(self.directory)
        return number

    def put_batch(self, items: list[tuple[str, bytes]]) -> dict[str, Location]:
        """Append the bytes of ``items`` ((sha256, bytes) pairs; a hash given twice
        is written once) and return where each went; durable on return."""
        locations, durable = self.begin_batch(items)
        durable()
        return locations

    def begin_batch(
        self, items: list[tuple[str, bytes]]
    ) -> tuple[dict[str, Location], Callable[[], None]]:
        """Reserve room for ``items`` and start writing them in a helper thread;
        returns their locations and a function that waits until the bytes are
        fsynced (raising if writing failed). The caller may insert rows pointing
        at the locations meanwhile, but must call it before committing them.

        The room is reserved under the append lock by growing the file
        (``ftruncate`` from the real end, rounded up to ``ALIGN``), so concurrent
        writers get disjoint ranges and never interleave; a crash before the
        data lands leaves an unreferenced hole, like any other dead tail, and so
        does the zero padding after the batch.
        """
        unique: dict[str, bytes] = {}
        for sha, data in items:
            unique.setdefault(sha, data)
        if not unique:
            return {}, _nothing
        _ensure_dir(self.directory)
        total = sum(map(len, unique.values()))
        with _flock(self.directory / _APPEND_LOCK, fcntl.LOCK_EX):
            number = self._segment_for(total)
            fd = self._pin(number)
            # The file's real end, not a stored pointer: a crashed writer's
            # unreferenced tail simply stays where it is.
            start = os.lseek(fd, 0, os.SEEK_END)
            direct = self._direct_fd(number) if total >= DIRECT_FROM else None
            span = total
            if direct is not None:
                start, span = _align(start), _align(total)
            os.ftruncate(fd, start + span)
        locations = {}
        offset = start
        for sha, data in unique.items():
            locations[sha] = Location(pack=number, offset=offset)
            offset += len(data)
        failure: list[BaseException] = []

        def write() -> None:
            try:
                if direct is not None:
                    _write_aligned(direct, list(unique.values()), start)
                else:
                    _write_buffered(fd, list(unique.values()), start)
                os.fsync(fd)
            except BaseException as exc:
                failure.append(exc)

        # The writes and fsync release the GIL: the bytes go to disk while the
        # caller inserts its rows.
        thread = threading.Thread(target=write, name="pack-writer", daemon=True)
        thread.start()
        self._writers.append(thread)

        def durable() -> None:
            thread.join()
            if failure:
                raise failure[0]

        return locations, durable

    def close(self) -> None:
        """Release the segment pins (after the rows' transaction has ended)."""
        # A failed caller may not have waited: the writers still use the fds.
        for thread in self._writers:
            thread.join()
        self._writers = []
        direct, self._direct = self._direct, {}
        for fd in direct.values():
            if fd is not None:
                os.close(fd)
        pins, self._pins = self._pins, {}
        for fd in pins.values():
            os.close(fd)


class DatabaseSession:
    """The bytes travel with the row: nothing is written before the transaction."""

    def begin_batch(
        self, items: list[tuple[str, bytes]]
    ) -> tuple[dict[str, Location], Callable[[], None]]:
        """Like :meth:`put_batch`; there is nothing to wait for."""
        return self.put_batch(items), _nothing

    def put_batch(self, items: list[tuple[str, bytes]]) -> dict[str, Location]:
        """Return the bytes as locations; the caller writes them into the rows."""
        return {sha: Location(data=data) for sha, data in items}

    def close(self) -> None:
        """Nothing to release."""


@contextlib.contextmanager
def session(kind: str | None = None) -> Iterator[PackSession | DatabaseSession]:
    """A writer for one batch: ``put_batch`` before the transaction, commit the
    rows inside the ``with`` block, so pack pins last until the commit is done."""
    writer = PackSession() if (kind or current_kind()) == PACK else DatabaseSession()
    try:
        yield writer
    finally:
        writer.close()


def put_batch(items: list[tuple[str, bytes]], kind: str | None = None) -> dict[str, Location]:
    """Store ``items`` with the configured backend and return their locations.

    For ``pack`` the bytes are durable on return; for ``database`` the locations
    carry the bytes, which become durable with the caller's rows. Callers that
    commit rows afterwards should prefer :func:`session`, which keeps the
    segment pinned against ``gc-raw`` until the rows are committed.
    """
    with session(kind) as writer:
        return writer.put_batch(items)


def read_location(pack: int, offset: int, size: int, directory: Path | None = None) -> bytes:
    """Return ``size`` bytes at ``offset`` of segment ``pack``."""
    fd = os.open(segment_path(pack, directory), os.O_RDONLY)
    try:
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = os.preadv(fd, [view[got:]], offset + got)
            if not n:
                break
            got += n
        view.release()
    finally:
        os.close(fd)
    if got != size:
        raise RawMissing(f"segment {pack} ends before offset {offset}+{size}")
    return bytes(buf)


def read(raw: RawMessage) -> bytes:
    """Return the exact bytes of ``raw``, wherever the row says they are.

    Pack bytes are checked against the row's SHA-256. When ``gc-raw`` moved them
    meanwhile (the segment is gone), the row is read again once.
    """
    for attempt in range(2):
        if raw.pack is None:
            return bytes(raw.data)
        try:
            data = read_location(raw.pack, raw.offset or 0, raw.size)
        except FileNotFoundError:
            if attempt:
                raise RawMissing(f"segment {raw.pack} of raw message {raw.pk} is gone") from None
            raw.refresh_from_db(fields=["pack", "offset", "data"])
            continue
        if hashlib.sha256(data).hexdigest() != raw.sha256:
            raise RawMissing(f"raw message {raw.pk}: bytes in segment {raw.pack} do not match")
        return data
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Mapped:
    """A raw message readable in place: ``buffer[start:end]`` are its bytes.

    For pack rows ``buffer`` is a read-only ``mmap`` of the segment (page cache,
    not process memory), for database rows the row's bytes.
    """

    buffer: bytes | memoryview | mmap.mmap
    start: int
    end: int

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        for pos in range(self.start, self.end, size):
            yield bytes(self.buffer[pos : min(pos + size, self.end)])


#: Database rows up to this size are read in one piece; larger ones are spooled.
SPOOL_FROM = 1 << 20
_SPOOL_CHUNK = 256 * 1024


def _row_chunks(raw: RawMessage) -> Iterator[bytes]:
    """The bytes of a database-store row, 256 KiB at a time (SQLite's incremental
    blob reading, PostgreSQL's ``substring``), so no copy of the whole is made."""
    from django.db import connection

    table = RawMessage._meta.db_table
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.connection.blobopen(table, "data", raw.pk, readonly=True) as blob:
            while chunk := blob.read(_SPOOL_CHUNK):
                yield chunk
        return
    qn = connection.ops.quote_name
    sql = f"SELECT substring({qn('data')} FROM %s FOR %s) FROM {qn(table)} WHERE id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        for pos in range(0, raw.size, _SPOOL_CHUNK):
            cursor.execute(sql, [pos + 1, _SPOOL_CHUNK, raw.pk])
            row = cursor.fetchone()
            if row is None:
                raise RawMissing(f"raw message {raw.pk} is gone")
            yield bytes(row[0])


@contextlib.contextmanager
def _spooled(raw: RawMessage) -> Iterator[Mapped]:
    """A large database row copied piece by piece into an unlinked temporary file and
    mapped from there: the process holds a chunk, never the message."""
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        for chunk in _row_chunks(raw):
            digest.update(chunk)
            spool.write(chunk)
        spool.flush()
        size = spool.tell()
        if size != raw.size or digest.hexdigest() != raw.sha256:
            raise RawMissing(f"raw message {raw.pk}: stored bytes do not match")
        with mmap.mmap(spool.fileno(), size, access=mmap.ACCESS_READ) as mm:
            yield Mapped(mm, 0, size)


@contextlib.contextmanager
def mapped(raw: RawMessage) -> Iterator[Mapped]:
    """Open ``raw``'s bytes for reading in place, to stream them (downloads).

    Pack bytes are mapped from their segment (page cache, not process memory) and
    checked against the row's SHA-256 as in :func:`read`, so a reader never streams
    bytes of another message; the mapping keeps the segment's file alive even if
    ``gc-raw`` replaces it meanwhile. Large database rows are spooled (``_spooled``);
    pass ``raw`` with ``data`` deferred so loading the row does not copy them.
    """
    for attempt in range(2):
        if raw.pack is None:
            if raw.size >= SPOOL_FROM:
                with _spooled(raw) as view:
                    yield view
                return
            data = bytes(raw.data)
            yield Mapped(data, 0, len(data))
            return
        try:
            fd = os.open(segment_path(raw.pack), os.O_RDONLY)
        except FileNotFoundError:
            if attempt:
                raise RawMissing(f"segment {raw.pack} of raw message {raw.pk} is gone") from None
            raw.refresh_from_db(fields=["pack", "offset"])
            continue
        break
    offset = raw.offset or 0
    # mmap offsets must be multiples of the allocation granularity.
    aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
    try:
        if os.fstat(fd).st_size < offset + raw.size:
            raise RawMissing(f"segment {raw.pack} ends before offset {offset}+{raw.size}")
        length = offset - aligned + raw.size
        mm = mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=aligned) if raw.size else None
    finally:
        os.close(fd)
    if mm is None:
        yield Mapped(b"", 0, 0)
        return
    try:
        view = Mapped(mm, offset - aligned, length)
        digest = hashlib.sha256()
        for pos in range(view.start, view.end, 1 << 20):
            digest.update(mm[pos : min(pos + (1 << 20), view.end)])
        if digest.hexdigest() != raw.sha256:
            raise RawMissing(f"raw message {raw.pk}: bytes in segment {raw.pack} do not match")
        yield view
    finally:
        mm.close()


# -- garbage ------------------------------------------------------------------------

#: Segments whose referenced bytes fall below this share of the file are rewritten.
REWRITE_BELOW = 0.5
#: Bytes copied per put_batch while rewriting, to bound memory.
_COPY_CHUNK = 64 * 1024 * 1024


@dataclass
class GcResult:
    """What :func:`collect_garbage` did."""

    rows_deleted: int = 0
    segments_rewritten: int = 0
    bytes_reclaimed: int = 0


def _unreferenced() -> dict[str, bool]:
    """Filter arguments for "no row of any kind points here": messages, and the
    outgoing messages and draft attachments that keep their bytes here too. Read
    from the model's reverse relations, so a new kind of referrer is covered."""
    return {
        f"{rel.name}__isnull": True
        for rel in RawMessage._meta.get_fields()
        if rel.one_to_many and rel.auto_created and not rel.concrete
    }


def delete_unreferenced() -> int:
    """Delete the raw rows nothing points at (deleting a mailbox leaves them,
    ``Message.raw`` is PROTECT; a removed draft attachment leaves its bytes);
    returns how many."""
    deleted = 0
    ids = list(RawMessage.objects.filter(**_unreferenced()).values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        try:
            with transaction.atomic():
                # Filtered again: a fetch may have pointed a new message at one of
                # them since; the foreign key refuses a race we did not see.
                doomed = RawMessage.objects.filter(pk__in=chunk, **_unreferenced())
                deleted += doomed.delete()[0]
        except (IntegrityError, ProtectedError):
            continue  # left for the next run
    return deleted


def _seal(number: int, directory: Path) -> None:
    """Make sure writers no longer append to segment ``number``."""
    _ensure_dir(directory)
    with _flock(directory / _APPEND_LOCK, fcntl.LOCK_EX):
        numbers = segments(directory)
        if numbers and numbers[-1] == number:
            PackSession(directory)._new_segment(number + 1)


def _rewrite(number: int, directory: Path) -> int:
    """Copy the live entries of segment ``number`` to the newest segment, repoint
    their rows and delete the file; returns the bytes freed."""
    _seal(number, directory)
    path = segment_path(number, directory)
    fd = os.open(path, os.O_RDONLY)
    try:
        # Writers keep a shared lock until their rows are committed: once we hold
        # the exclusive one, every row that will ever point here is visible, and
        # no new one can appear because the segment is sealed.
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        rows = list(
            RawMessage.objects.filter(pack=number)
            .order_by("offset")
            .values_list("pk", "sha256", "size", "offset")
        )
        with session(PACK) as writer:
            start = 0
            while start < len(rows):
                chunk, total = [], 0
                while start < len(rows) and (not chunk or total < _COPY_CHUNK):
                    chunk.append(rows[start])
                    total += rows[start][2]
                    start += 1
                items = []
                for _pk, sha, length, offset in chunk:
                    data = read_location(number, offset, length, directory)
                    if hashlib.sha256(data).hexdigest() != sha:
                        raise RawMissing(f"segment {number} at {offset}: bytes do not match")
                    items.append((sha, data))
                moved = writer.put_batch(items)
                with transaction.atomic():
                    for pk, sha, _length, offset in chunk:
                        RawMessage.objects.filter(pk=pk, pack=number, offset=offset).update(
                            pack=moved[sha].pack, offset=moved[sha].offset
                        )
        if RawMessage.objects.filter(pack=number).exists():
            raise RawMissing(f"segment {number} still has rows after its rewrite")
        os.unlink(path)
        _fsync_dir(directory)
        return size - sum(r[2] for r in rows)
    finally:
        os.close(fd)


def collect_garbage(threshold: float = REWRITE_BELOW, directory: Path | None = None) -> GcResult:
    """Delete unreferenced raw rows, then rewrite every pack segment whose live
    bytes are below ``threshold`` of its size. One collector runs at a time."""
    result = GcResult(rows_deleted=delete_unreferenced())
    directory = directory or packs_dir()
    if not directory.is_dir():
        return result
    with _flock(directory / _GC_LOCK, fcntl.LOCK_EX):
        for number in segments(directory):
            size = segment_path(number, directory).stat().st_size
            live = RawMessage.objects.filter(pack=number).aggregate(n=Sum("size"))["n"] or 0
            if size and live >= threshold * size:
                continue
            if not size and number == segments(directory)[-1]:
                continue  # the empty newest segment is where the next batch goes
            result.bytes_reclaimed += _rewrite(number, directory)
            result.segments_rewritten += 1
    return result
