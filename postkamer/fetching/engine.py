"""The fetch engine: claiming a mailbox, syncing its folders, recording the outcome.

Public entry points:

- :func:`run_queued` runs one queued :class:`FetchRun` (the Huey task and the
  ``postkamer fetch`` command call it);
- :func:`dispatch_due` queues a fetch for every mailbox whose interval has passed
  (the periodic task);
- :func:`fetch_mailbox` claims, fetches and records one mailbox without a FetchRun;
- :func:`claim`, :func:`renew`, :func:`release` the lease (SPEC §4: never two fetches
  of one mailbox at a time, across workers and machines).

Claims are conditional UPDATEs on the mailbox row, so they work the same on SQLite
and PostgreSQL, and a crashed worker's lease simply expires.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import queue
import resource
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from postkamer.accounts.models import Notification
from postkamer.crypto import SecretUnreadable
from postkamer.fetching import store
from postkamer.fetching.models import FetchRun, FolderState
from postkamer.fetching.queue import request_fetch
from postkamer.mail import errors, imap, imapfetch
from postkamer.mail.imap import ImapConnection
from postkamer.mailboxes import access, audit
from postkamer.mailboxes.connection import connect_options, describe_error, imap_settings
from postkamer.mailboxes.models import AuditAction, Mailbox, MailboxType
from postkamer.messages.models import Folder

log = logging.getLogger(__name__)

#: How long a claim holds without renewal; renewed after every batch.
LEASE = dt.timedelta(minutes=10)
#: A batch commits after this many messages or bytes, whichever comes first.
BATCH_MESSAGES = 200
BATCH_BYTES = 20 * 1024 * 1024
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


#: Fetches of at least this many messages checkpoint SQLite's WAL in a thread.
BACKGROUND_CHECKPOINT_FROM = 400

#: progress(done_messages, total_messages, done_bytes)
Progress = Callable[[int, int, int], None]


class LeaseLost(Exception):
    """Our claim on the mailbox expired and someone else took it over."""


@dataclass
class FetchOutcome:
    """The result of one fetch: ``claimed`` False means another worker held the
    mailbox; ``error`` is the first error (``folder_errors`` lists missing folders,
    which do not stop the other folders)."""

    claimed: bool = True
    new_messages: int = 0
    error: Exception | None = None
    error_text: str = ""
    folder_errors: list[errors.FolderMissing] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the fetch ran and nothing failed."""
        return self.claimed and self.error is None

    @property
    def error_code(self) -> str:
        """Return the machine-readable code of ``error`` ("" without error)."""
        if self.error is None:
            return ""
        return getattr(self.error, "code", "secret_unreadable")


# -- claiming ---------------------------------------------------------------------


def claim(mailbox_id: int, lease: dt.timedelta = LEASE) -> str | None:
    """Take the mailbox's lease; return the token, or None when someone else holds it."""
    now = timezone.now()
    token = secrets.token_hex(16)
    taken = (
        Mailbox.objects.filter(pk=mailbox_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + lease, lease_token=token)
    )
    return token if taken else None


def renew(mailbox_id: int, token: str, lease: dt.timedelta = LEASE) -> None:
    """Extend our lease. Raises :class:`LeaseLost` when it is no longer ours."""
    renewed = Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
        lease_until=timezone.now() + lease
    )
    if not renewed:
        raise LeaseLost(f"lease on mailbox {mailbox_id} lost")


def release(mailbox_id: int, token: str, **fields: object) -> bool:
    """Give the lease back (only if still ours), writing ``fields`` in the same
    UPDATE; returns True when it was still ours."""
    return bool(
        Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
            lease_until=None, lease_token="", **fields
        )
    )


# -- kept-open connections ------------------------------------------------------------


class ConnectionPool:
    """Per-process open IMAP connections, keyed by mailbox id.

    A connection is taken out while in use, so two threads never share one; it is
    keyed by the server settings too, so a changed password never reuses an old
    session. Idle connections older than ``idle_seconds`` are closed on access;
    beyond ``max_size`` (default :func:`pool_size`) the least recently returned
    one is closed (the next fetch of its mailbox simply connects again).
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


pool = ConnectionPool()


def close_quietly(conn: ImapConnection) -> None:
    """Close ``conn`` without raising; it is being dropped anyway."""
    with contextlib.suppress(Exception):
        conn.shutdown()


def _pool_key(mailbox: Mailbox) -> str:
    # The encrypted password changes whenever the password does, and hashing it
    # avoids a decryption on every poll.
    raw = "\0".join(
        str(v)
        for v in (
            mailbox.imap_host,
            mailbox.imap_port,
            mailbox.imap_security,
            mailbox.imap_username,
            mailbox.imap_password_enc,
        )
    )
    return hashlib.sha256(raw.encode()).hexdigest()


# -- syncing one folder -------------------------------------------------------------


def _pause(name: str) -> None:
    # Fault tests kill the worker at these points (see tests/fetching/test_faults.py).
    value = os.environ.get(name)
    if value:
        sys.stderr.write(f"{name}\n")
        sys.stderr.flush()
        time.sleep(float(value))


_DONE = object()


class _BatchReader:
    """Reads, hashes and parses messages in a thread while the caller commits the
    previous batch: the socket, SHA-256 and SQLite all release the GIL, so the
    download overlaps the database writes. At most one finished batch waits in
    the queue, which bounds memory to about three batches."""

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

    def __iter__(self) -> Iterator[tuple[list[store.Prepared], int]]:
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
                self.conn.socket().shutdown(socket.SHUT_RDWR)
            self.thread.join(5)


@contextlib.contextmanager
def _background_checkpoints(count: int) -> Iterator[None]:
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


class _FolderSync:
    def __init__(
        self,
        conn: ImapConnection,
        mailbox: Mailbox,
        token: str | None,
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.mailbox = mailbox
        self.token = token
        self.progress = progress
        self.done = 0
        self.total = 0
        self.bytes = 0

    def run(
        self,
        role: str,
        name: str,
        known: imapfetch.FolderStatus | None = None,
        repair_since: dt.datetime | None = None,
    ) -> int:
        state, _created = FolderState.objects.get_or_create(
            mailbox=self.mailbox, role=role, defaults={"name": name}
        )
        if state.name != name:
            # The administrator chose another folder: it is a different UID space.
            state.name, state.uidvalidity, state.last_uid = name, None, 0
            state.save(update_fields=["name", "uidvalidity", "last_uid"])
        current = known or imapfetch.status(self.conn, name)
        unchanged = (
            repair_since is None
            and state.uidvalidity == current.uidvalidity
            and current.uidnext is not None
            and current.uidnext <= state.last_uid + 1
        )
        if unchanged:
            return 0
        opened = imapfetch.examine(self.conn, name)
        try:
            if state.uidvalidity != opened.uidvalidity:
                # New folder, or the server renumbered it: re-read from the
                # synchronisation date; the store skips what we already hold.
                since = self.mailbox.sync_since
                if repair_since is not None:
                    since = min(since, repair_since)
                uids = imapfetch.uids_since(self.conn, since)
            elif repair_since is not None:
                uids = imapfetch.uids_since(self.conn, repair_since)
            else:
                uids = imapfetch.uids_after(self.conn, state.last_uid)
            stored = self._fetch(state, opened.uidvalidity, uids, repaired=repair_since is not None)
            # Every UID below UIDNEXT that we wanted is committed now (or was
            # expunged), so the mark may move up to it.
            base = state.last_uid if state.uidvalidity == opened.uidvalidity else 0
            last_uid = max(base, (opened.uidnext or 1) - 1)
            FolderState.objects.filter(pk=state.pk).update(
                uidvalidity=opened.uidvalidity,
                last_uid=last_uid,
                uidnext=opened.uidnext,
                message_count=opened.messages,
                highestmodseq=current.highestmodseq,
                updated_at=timezone.now(),
            )
        finally:
            with contextlib.suppress(errors.MailError):
                imapfetch.unselect(self.conn)
        return stored

    def _fetch(self, state: FolderState, uidvalidity: int, uids: list[int], repaired: bool) -> int:
        self.total += len(uids)
        self._report()
        if not uids:
            return 0
        stored = 0
        fetched_at = timezone.now()
        with _background_checkpoints(len(uids)):
            reader = _BatchReader(self.conn, uids)
            try:
                for batch, size in reader:
                    stored += self._commit(state, uidvalidity, batch, size, repaired, fetched_at)
            finally:
                reader.stop()
        return stored

    def _commit(
        self,
        state: FolderState,
        uidvalidity: int,
        batch: list[store.Prepared],
        size: int,
        repaired: bool,
        fetched_at: dt.datetime,
    ) -> int:
        _pause("POSTKAMER_TEST_PAUSE_AFTER_BATCH")
        if self.token is not None:
            renew(self.mailbox.pk, self.token)
        result = store.store_batch(
            state, uidvalidity, batch, repaired=repaired, fetched_at=fetched_at
        )
        _pause("POSTKAMER_TEST_PAUSE_AFTER_COMMIT")
        self.done += len(batch)
        self.bytes += size
        self._report()
        return result.stored

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.bytes)


def _folders(mailbox: Mailbox) -> list[tuple[str, str]]:
    folders = [(Folder.INBOX.value, "INBOX")]
    if mailbox.junk_folder:
        folders.append((Folder.JUNK.value, mailbox.junk_folder))
    if mailbox.sent_folder:
        folders.append((Folder.SENT.value, mailbox.sent_folder))
    return folders


def _connect(mailbox: Mailbox, key: str) -> tuple[ImapConnection, imapfetch.FolderStatus]:
    """Return a live connection and the INBOX status; a kept-open connection is
    checked by that very STATUS and replaced once when it has gone stale."""
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


def sync(mailbox: Mailbox, token: str | None = None, progress: Progress | None = None) -> int:
    """Fetch the mailbox's folders (INBOX, junk, sent) and commit new messages;
    returns how many were stored. Does not claim: the caller holds ``token``.

    A missing junk/sent folder does not stop the others: the other folders are
    synced first and then ``FolderMissing`` is raised. Raises ``MailError`` (the
    connection is closed then), ``SecretUnreadable`` or :class:`LeaseLost`.
    """
    key = _pool_key(mailbox)
    conn, inbox_status = _connect(mailbox, key)
    repair_since = mailbox.repair_since
    syncer = _FolderSync(conn, mailbox, token, progress)
    stored = 0
    missing: list[errors.FolderMissing] = []
    try:
        for role, name in _folders(mailbox):
            try:
                stored += syncer.run(
                    role,
                    name,
                    inbox_status if role == Folder.INBOX else None,
                    repair_since=repair_since,
                )
            except errors.FolderMissing as exc:
                missing.append(exc)
    except BaseException:
        close_quietly(conn)
        raise
    pool.give_back(mailbox.pk, key, conn)
    if repair_since is not None and not missing:
        # Only the repair we ran is finished; a newer one set meanwhile stays.
        Mailbox.objects.filter(pk=mailbox.pk, repair_since=repair_since).update(repair_since=None)
    if missing:
        raise missing[0]
    return stored


# -- recording the outcome ------------------------------------------------------------


def _error_text(error: Exception) -> str:
    if isinstance(error, errors.MailError):
        return describe_error(error)
    if isinstance(error, SecretUnreadable):
        return _("The stored password cannot be read. Enter the password again.")
    return _("The connection failed.")


def _record_failure(mailbox: Mailbox, text: str, now: dt.datetime) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(
        error_count=F("error_count") + 1, last_error=text, last_error_at=now
    )
    mailbox.refresh_from_db(
        fields=["error_count", "last_error", "last_error_at", "interval_minutes", "max_errors"]
    )
    if mailbox.max_errors and mailbox.error_count >= mailbox.max_errors:
        _disable(mailbox, text)


def _disable(mailbox: Mailbox, text: str) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        reason = _(
            "Automatic fetching was switched off after %(count)d failed attempts: %(error)s"
        ) % {"count": mailbox.error_count, "error": text}
    # Conditional, so two failing workers notify the owners once.
    switched = Mailbox.objects.filter(pk=mailbox.pk, disabled_reason="").update(
        interval_minutes=None, disabled_reason=reason
    )
    if not switched:
        return
    mailbox.interval_minutes, mailbox.disabled_reason = None, reason
    audit.record(mailbox, None, AuditAction.AUTO_DISABLED, errors=mailbox.error_count)
    notes = []
    for user in access.users_who_can_read(mailbox):
        with translation.override(user.language or settings.LANGUAGE_CODE):
            notes.append(
                Notification(
                    user=user,
                    mailbox=mailbox,
                    kind="mailbox_disabled",
                    text=_(
                        "Automatic fetching of mailbox '%(name)s' was switched off after "
                        "%(count)d failed attempts. Last error: %(error)s"
                    )
                    % {"name": mailbox.name, "count": mailbox.error_count, "error": text},
                )
            )
    Notification.objects.bulk_create(notes)


def _language(mailbox: Mailbox) -> str:
    owner = mailbox.owner_users.order_by("pk").values_list("language", flat=True).first()
    return owner or settings.LANGUAGE_CODE


def fetch_mailbox(mailbox: Mailbox, progress: Progress | None = None) -> FetchOutcome:
    """Claim ``mailbox``, fetch it and record the result on the mailbox (error count,
    last error, auto-disable, last fetch time); always releases the claim.

    Returns a :class:`FetchOutcome`; ``claimed`` is False when another fetch held
    the mailbox. Mail errors are recorded, not raised.
    """
    token = claim(mailbox.pk)
    if token is None:
        return FetchOutcome(claimed=False)
    outcome = FetchOutcome()
    now = timezone.now()
    try:
        outcome.new_messages = sync(mailbox, token, progress)
    except (errors.MailError, SecretUnreadable) as exc:
        log.info("fetch of mailbox %s failed: %s", mailbox.pk, exc)
        outcome.error = exc
        outcome.error_text = _error_text(exc)
    except LeaseLost as exc:
        outcome.error = errors.TemporaryFailure(str(exc))
        outcome.error_text = _error_text(outcome.error)
        return outcome
    except BaseException:
        release(mailbox.pk, token)
        raise
    now = timezone.now()
    if outcome.error is None:
        fields: dict[str, object] = {"last_fetch_at": now}
        if mailbox.error_count or mailbox.last_error:
            fields.update(error_count=0, last_error="")
        release(mailbox.pk, token, **fields)
    else:
        release(mailbox.pk, token)
        _record_failure(mailbox, outcome.error_text, now)
    return outcome


def run_queued(run_id: int, progress: Progress | None = None) -> bool:
    """Run the queued fetch ``run_id`` and record it on the FetchRun; returns True
    on success (False on failure, when skipped, or when the run is unknown).

    A run whose mailbox is being fetched by someone else ends with ``ok=None`` and
    error code ``busy``: not an error, and not counted against the mailbox.
    """
    run = FetchRun.objects.select_related("mailbox", "mailbox__tenant").filter(pk=run_id).first()
    if run is None:
        return False
    mailbox = run.mailbox
    with translation.override(_language(mailbox)):
        FetchRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
        if mailbox.type != MailboxType.IMAP:
            outcome = FetchOutcome(
                error=errors.AuthUnavailable("not an IMAP mailbox"),
                error_text=_("This mailbox type cannot be fetched yet."),
            )
        else:
            try:
                outcome = fetch_mailbox(mailbox, progress)
            except Exception:
                # Not the server's fault (e.g. a database error): the run must not
                # stay "running" forever, and Huey logs the traceback.
                FetchRun.objects.filter(pk=run.pk).update(
                    finished_at=timezone.now(),
                    ok=False,
                    error_code="internal_error",
                    error=_("The fetch failed."),
                )
                raise
        fields: dict[str, object] = {
            "finished_at": timezone.now(),
            "new_messages": outcome.new_messages,
        }
        if not outcome.claimed:
            fields.update(
                ok=None,
                error_code="busy",
                error=_("Another fetch of this mailbox was still running; this one was skipped."),
            )
        else:
            fields.update(ok=outcome.ok, error_code=outcome.error_code, error=outcome.error_text)
        FetchRun.objects.filter(pk=run.pk).update(**fields)
    return outcome.ok


def dispatch_due(now: dt.datetime | None = None) -> int:
    """Queue an interval fetch for every enabled IMAP mailbox whose ``next_fetch_at``
    has passed; returns how many were queued.

    ``next_fetch_at`` moves forward with a conditional UPDATE first, so two
    dispatchers never queue the same mailbox twice.
    """
    now = now or timezone.now()
    # The dispatcher runs every minute in each worker process: a good moment to
    # let go of connections to mailboxes that are no longer polled.
    pool.prune()
    due = (
        Mailbox.objects.filter(
            type=MailboxType.IMAP, interval_minutes__isnull=False, disabled_reason=""
        )
        .filter(Q(next_fetch_at__isnull=True) | Q(next_fetch_at__lte=now))
        .only("pk", "next_fetch_at", "interval_minutes")
    )
    queued = 0
    for mailbox in due:
        with transaction.atomic():
            moved = Mailbox.objects.filter(
                pk=mailbox.pk, next_fetch_at=mailbox.next_fetch_at
            ).update(next_fetch_at=now + dt.timedelta(minutes=mailbox.interval_minutes))
            if moved:
                request_fetch(mailbox, trigger=FetchRun.Trigger.INTERVAL)
                queued += 1
    return queued
