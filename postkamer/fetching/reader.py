"""Reading messages in a thread while the caller commits, and moving SQLite's WAL
checkpoints out of the committing thread during a big fetch."""

from __future__ import annotations

import contextlib
import queue
import socket
import sqlite3
import threading
from collections.abc import Iterator

from django.db import connection

from postkamer.fetching import store
from postkamer.mail import imapfetch
from postkamer.mail.imap import ImapConnection

#: A batch commits after this many messages or bytes, whichever comes first.
BATCH_MESSAGES = 200
BATCH_BYTES = 20 * 1024 * 1024
#: Fetches of at least this many messages checkpoint SQLite's WAL in a thread.
BACKGROUND_CHECKPOINT_FROM = 400

_DONE = object()

Batch = tuple[list[store.Prepared], int]


class BatchReader:
    """Reads, hashes and parses messages in a thread while the caller commits the
    previous batch: the socket, SHA-256 and SQLite all release the GIL, so the
    download overlaps the database writes. At most one finished batch waits in
    the queue, which bounds memory to about three batches.

    Iterating yields ``(prepared messages, their bytes)`` per batch and raises
    what the reader raised (``MailError``). Always call :meth:`stop`.
    """

    def __init__(self, conn: ImapConnection, uids: list[int]) -> None:
        self.conn = conn
        self.uids = uids
        self.queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="imap-batch-reader", daemon=True)
        self.thread.start()

    def _put(self, item: object) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            batch: list[store.Prepared] = []
            size = 0
            for fetched in imapfetch.fetch_messages(self.conn, self.uids):
                batch.append(store.prepare(fetched))
                size += len(fetched.raw)
                if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
                    if not self._put((batch, size)):
                        return
                    batch, size = [], 0
            if batch and not self._put((batch, size)):
                return
            self._put(_DONE)
        except BaseException as exc:
            self._put(exc)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def stop(self) -> None:
        """Stop the reader; when it is still mid-download (the caller failed),
        its connection is shut so a blocked read ends, and must not be reused."""
        self.stopping.set()
        if self.thread.is_alive():
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.conn.imap4.socket(), socket.SHUT_RDWR)
            self.thread.join(5)


@contextlib.contextmanager
def background_checkpoints(count: int) -> Iterator[None]:
    """During a bulk fetch on SQLite, move WAL checkpoints to a helper thread.

    By default the committing connection copies the WAL into the database file at
    each commit, so every batch waits for its bytes to be written twice. A second
    connection doing PASSIVE checkpoints does the same copy while the next batch
    downloads and parses (sqlite3 releases the GIL); the commits stay as durable
    as before. Elsewhere this does nothing.
    """
    name = str(connection.settings_dict.get("NAME") or "")
    if (
        connection.vendor != "sqlite"
        or count < BACKGROUND_CHECKPOINT_FROM
        or not name
        or name == ":memory:"
        or name.startswith("file:")
    ):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        previous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    stop = threading.Event()

    def checkpoint() -> None:
        db = sqlite3.connect(name, timeout=30, isolation_level=None)
        try:
            while not stop.wait(0.05):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    thread = threading.Thread(target=checkpoint, name="sqlite-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={previous:d}")
