"""Kept-open IMAP connections, one per mailbox, per worker process.

Polling an unchanged mailbox then costs one STATUS instead of a connect, TLS and a
login. A connection is taken out while in use, so two threads never share one;
it is keyed by the server settings too, so a changed password (or OAuth2 access
token) never reuses an old session.
"""

from __future__ import annotations

import contextlib
import hashlib
import resource
import threading
import time

from postkamer.mail import errors, imap, imapfetch
from postkamer.mail.imap import ImapConnection
from postkamer.mailboxes.connection import connect_options, imap_identity, imap_settings
from postkamer.mailboxes.models import Mailbox

#: Kept-open connections unused for longer than this are closed, not reused: long
#: enough to outlive a 15-minute interval, short of the 30-minute autologout
#: servers may apply (RFC 3501 §5.4).
POOL_IDLE_SECONDS = 20 * 60.0
#: Kept-open connections per worker process at most; the least recently used goes.
POOL_MAX = 1000


def pool_size() -> int:
    """How many connections the pool may keep: ``POOL_MAX``, but never more than
    half the file descriptors this process may open (each connection is one),
    so fetches and the database always find one. Read when needed: the worker
    raises its own limit at start (``postkamer worker``)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return POOL_MAX
    return max(16, min(POOL_MAX, soft // 2))


def raise_file_limit(wanted: int = 2 * POOL_MAX + 1024) -> int:
    """Raise this process's soft limit on open files towards ``wanted`` (never past
    the hard limit); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def close_quietly(conn: ImapConnection) -> None:
    """Close ``conn`` without raising; it is being dropped anyway."""
    with contextlib.suppress(Exception):
        conn.shutdown()


class ConnectionPool:
    """Per-process open IMAP connections, keyed by mailbox id.

    Idle connections older than ``idle_seconds`` are closed on access; beyond
    ``max_size`` (default :func:`pool_size`) the least recently returned one is
    closed (the next fetch of its mailbox simply connects again).
    """

    def __init__(
        self, idle_seconds: float = POOL_IDLE_SECONDS, max_size: int | None = None
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_size = max_size
        self._lock = threading.Lock()
        self._idle: dict[int, tuple[str, ImapConnection, float]] = {}

    def take(self, mailbox_id: int, key: str) -> ImapConnection | None:
        """Return the idle connection for this mailbox and key, or None."""
        with self._lock:
            entry = self._idle.pop(mailbox_id, None)
        if entry is None:
            return None
        old_key, conn, since = entry
        if old_key != key or time.monotonic() - since > self.idle_seconds:
            close_quietly(conn)
            return None
        return conn

    def give_back(self, mailbox_id: int, key: str, conn: ImapConnection) -> None:
        """Keep ``conn`` open for the next fetch of this mailbox."""
        evicted = []
        with self._lock:
            previous = self._idle.pop(mailbox_id, None)
            # Insertion order is the order of return: the first is the oldest.
            self._idle[mailbox_id] = (key, conn, time.monotonic())
            limit = self.max_size or pool_size()
            while len(self._idle) > max(limit, 1):
                evicted.append(self._idle.pop(next(iter(self._idle)))[1])
        if previous is not None and previous[1] is not conn:
            close_quietly(previous[1])
        for old in evicted:
            close_quietly(old)

    def prune(self) -> int:
        """Close idle connections older than ``idle_seconds``; returns how many."""
        limit = time.monotonic() - self.idle_seconds
        with self._lock:
            old = [mid for mid, (_k, _c, since) in self._idle.items() if since < limit]
            entries = [self._idle.pop(mid) for mid in old]
        for _key, conn, _since in entries:
            close_quietly(conn)
        return len(entries)

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            entries, self._idle = list(self._idle.values()), {}
        for _key, conn, _since in entries:
            close_quietly(conn)

    def __len__(self) -> int:
        return len(self._idle)


#: This process's pool.
pool = ConnectionPool()


def pool_key(mailbox: Mailbox) -> str:
    """The key a kept-open connection must match to be reused for ``mailbox``: a
    changed server, user, password or OAuth2 access token gives a new connection
    (``connection.imap_identity``). Raises ``MailError`` when an OAuth2 mailbox
    cannot get a token."""
    return hashlib.sha256(imap_identity(mailbox).encode()).hexdigest()


def connect(mailbox: Mailbox, key: str) -> tuple[ImapConnection, imapfetch.FolderStatus]:
    """Return a live connection and the INBOX status; a kept-open connection is
    checked by that very STATUS and replaced once when it has gone stale.

    Raises ``MailError`` or ``SecretUnreadable``."""
    conn = pool.take(mailbox.pk, key)
    if conn is not None:
        try:
            return conn, imapfetch.status(conn, "INBOX")
        except (errors.ProtocolError, errors.Timeout):
            close_quietly(conn)
    conn = imap.connect(imap_settings(mailbox), connect_options())
    try:
        return conn, imapfetch.status(conn, "INBOX")
    except BaseException:
        close_quietly(conn)
        raise
