"""The watchers, the asyncio side of push: one event loop per worker process, in a
thread of its own, holds an IMAP IDLE connection (:mod:`postkamer.mail.idle`) to
the inbox of every mailbox this worker has the watch lease on, and asks for a
fetch when the server announces new mail. Thousands of connections cost one
thread and a few kilobytes each.

A round every ``lease / 9`` seconds (3.3 s by default), through
:mod:`postkamer.fetching.push`:

1. every third round, renew all leases in one UPDATE and learn which mailboxes
   this worker holds; stop the watchers of mailboxes it lost, that were switched
   off, or whose server settings changed (they connect again with the new ones);
2. claim free mailboxes up to this worker's share, or hand back what is above it;
3. report the heartbeat (watching, connections open).

Fencing: a watcher must not go on after its lease may have passed to another
worker. When renewing fails (the database is away) until ``0.9 * lease`` after
the last renewal began, every watcher stops; they start again once renewing works.

Each watcher: connect (at most :data:`CONNECTING` logins at a time), ask for a
fetch if the inbox holds mail we have not stored (it arrived while nobody
watched), then idle; an ``EXISTS`` above the count known is new mail. A failure
makes the mailbox ``polling`` (the schedule reads its inbox again) and the watcher
tries again after a back-off that doubles up to 5 minutes, drawn at random
between half and all of it, so watchers that failed together (a server restart)
do not come back together. A server without IDLE is asked again after an hour.

Django's ORM is synchronous: database work runs in a small thread pool, batched
(one UPDATE for all leases, one per kind of state change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import resource
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections

from postkamer.crypto import SecretUnreadable
from postkamer.fetching import push
from postkamer.fetching.pool import pool_size
from postkamer.mail import errors, idle
from postkamer.mailboxes.connection import connect_options
from postkamer.mailboxes.models import Mailbox

log = logging.getLogger(__name__)

T = TypeVar("T")

#: After a server said it has no IDLE, ask again this much later (an upgrade may
#: add it); a change of the mailbox's settings starts the watcher sooner.
NO_IDLE_RETRY = 3600.0
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 300.0
#: Logins at a time: a worker that claims thousands of mailboxes must not storm
#: the mail server.
CONNECTING = 50
#: State changes are written at most this often (one UPDATE per kind of change).
FLUSH_SECONDS = 0.5
#: Threads for database work.
DB_THREADS = 4


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (see the module docstring)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))
    return random.uniform(ceiling / 2, ceiling)


def watcher_limit() -> int:
    """Watched mailboxes this process may hold: ``POSTKAMER_WATCHERS``, within its
    file limit (each watcher is a connection; the fetch pool and the database need
    theirs)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return settings.POSTKAMER_WATCHERS
    return max(0, min(settings.POSTKAMER_WATCHERS, soft - pool_size() - 256))


def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except (InterfaceError, OperationalError):
        connection.close()  # this thread's; the next call connects again
        raise


@dataclass
class _Watcher:
    key: str
    task: asyncio.Task


class WatcherService:
    """The watchers of one worker process (see the module docstring)."""

    def __init__(
        self,
        *,
        lease: float | None = None,
        limit: int | None = None,
        claiming: bool | None = None,
        reissue: float = idle.REISSUE_SECONDS,
    ) -> None:
        self.lease = float(lease or settings.POSTKAMER_WATCH_LEASE)
        self.limit = watcher_limit() if limit is None else limit
        self.claiming = settings.POSTKAMER_PUSH if claiming is None else claiming
        self.reissue = reissue
        self.tick = max(0.3, self.lease / 9)
        self.worker_id: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._executor = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="watch-db")
        self._watchers: dict[int, _Watcher] = {}
        self._pending: dict[int, tuple[str, str]] = {}
        self._written: dict[int, tuple[str, str]] = {}
        self._open: set[idle.IdleSession] = set()
        self._valid_until = 0.0

    # -- from the worker's main thread ---------------------------------------------
    def start(self, wait: float = 10.0) -> None:
        """Start the loop thread and wait (up to ``wait`` s) until it has registered."""
        self._thread = threading.Thread(target=self._run, name="watchers", daemon=True)
        self._thread.start()
        self._ready.wait(wait)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every watcher and hand the leases back at once."""
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # it closed just now
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def watching(self) -> int:
        """Mailboxes held in IDLE now."""
        return sum(1 for mid in self._watchers if self._written.get(mid, ("",))[0] == push.IDLE)

    @property
    def connections(self) -> int:
        return len(self._open)

    # -- the loop thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the watcher loop stopped")
        finally:
            self._ready.set()
            self._close_connections()

    def _close_connections(self) -> None:
        """Close the database connections of the pool's threads (each thread has
        its own), then let the threads go."""
        barrier = threading.Barrier(DB_THREADS)

        def close() -> None:
            connections.close_all()
            # Holding each thread here until all have closed makes every one take a turn.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)

        futures.wait([self._executor.submit(close) for _ in range(DB_THREADS)], timeout=5)
        self._executor.shutdown(wait=False)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _in_thread, fn, *args)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._connecting = asyncio.Semaphore(CONNECTING)
        host = socket.gethostname()
        name = f"{host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.worker_id = await self._db(push.register, name, host, os.getpid())
        push.set_current_worker(self.worker_id)
        self._ready.set()
        log.info("worker %s watches up to %d mailboxes", name, self.limit if self.claiming else 0)
        flusher = asyncio.create_task(self._flush_loop())
        last_renewal = -math.inf
        try:
            while not self._stopping.is_set():
                try:
                    if time.monotonic() - last_renewal >= self.lease / 3:
                        began = time.monotonic()
                        await self._renew()
                        last_renewal = began
                    if self.claiming:
                        await self._balance()
                    await self._db(push.heartbeat, self.worker_id, self.watching, self.connections)
                except Exception:
                    log.exception("watcher round of worker %s failed", self.worker_id)
                await self._fence()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.tick)
        finally:
            flusher.cancel()
            await self._drop(list(self._watchers))
            try:
                released = await self._db(push.stop, self.worker_id)
                log.info("worker %s stopped watching; %d leases handed back", name, released)
            except Exception:
                log.exception("worker %s could not hand its leases back", self.worker_id)
            push.set_current_worker(None)

    async def _renew(self) -> None:
        began = time.monotonic()
        held = await self._db(push.renew, self.worker_id)
        self._valid_until = began + 0.9 * self.lease
        await self._reconcile(held)

    async def _reconcile(self, held: dict[int, str]) -> None:
        """Watch exactly the mailboxes in ``held``, with their current settings."""
        gone = [mid for mid, w in self._watchers.items() if held.get(mid) != w.key]
        changed = {mid: self._watchers[mid].task for mid in gone if mid in held}
        for mid in gone:
            self._watchers[mid].task.cancel()
        for mid, key in held.items():
            if mid not in self._watchers or mid in changed:
                self._start(mid, key, previous=changed.get(mid))
        lost = [mid for mid in gone if mid not in held]
        await self._drop(lost)

    def _start(self, mailbox_id: int, key: str, previous: asyncio.Task | None = None) -> None:
        self._written[mailbox_id] = (push.POLLING, "")  # what a claim writes
        task = asyncio.create_task(self._watch(mailbox_id, previous))
        self._watchers[mailbox_id] = _Watcher(key, task)

    async def _drop(self, mailbox_ids: list[int]) -> None:
        """Stop these watchers and wait until their connections are closed."""
        tasks = []
        for mid in mailbox_ids:
            watcher = self._watchers.pop(mid, None)
            self._pending.pop(mid, None)
            self._written.pop(mid, None)
            if watcher is not None:
                watcher.task.cancel()
                tasks.append(watcher.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _balance(self) -> None:
        """Claim free mailboxes up to the share, or hand back what is above it."""
        want = await self._db(push.share, self.worker_id, self.limit)
        have = len(self._watchers)
        if have < want:
            if await self._db(push.claim, self.worker_id, want - have):
                await self._renew()
        elif have > want + max(1, want // 50):
            extra = random.sample(list(self._watchers), have - want)
            await self._drop(extra)  # closed before another worker may take them
            await self._db(push.release, self.worker_id, extra)
            log.info("worker %s handed back %d mailboxes to share", self.worker_id, len(extra))

    async def _fence(self) -> None:
        if self._watchers and time.monotonic() > self._valid_until:
            log.warning(
                "worker %s could not renew its watch leases: stopping %d watchers",
                self.worker_id,
                len(self._watchers),
            )
            await self._drop(list(self._watchers))

    # -- states ---------------------------------------------------------------------
    def _set_state(self, mailbox_id: int, state: str, code: str = "") -> None:
        if mailbox_id not in self._watchers:
            return
        if self._written.get(mailbox_id) == (state, code):
            self._pending.pop(mailbox_id, None)
        else:
            self._pending[mailbox_id] = (state, code)

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._db(push.record_states, self.worker_id, batch)
        except BaseException:
            self._pending = {**batch, **self._pending}
            raise
        for mid, change in batch.items():
            if mid in self._watchers:
                self._written[mid] = change

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self._flush()
            except Exception:
                log.exception("could not write the watch states")

    # -- one mailbox ------------------------------------------------------------------
    async def _watch(self, mailbox_id: int, previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)  # one connection at a time
        failures = 0
        while True:
            session: idle.IdleSession | None = None
            try:
                server = await self._db(push.server_settings, mailbox_id)
                async with self._connecting:
                    session = await idle.open_session(server, connect_options())
                self._open.add(session)
                failures = 0
                self._set_state(mailbox_id, push.IDLE)
                await self._idle(mailbox_id, session)
            except asyncio.CancelledError:
                if session is not None and not session.closed:
                    await session.close()
                raise
            except idle.IdleUnsupported:
                log.info("mailbox %s: the server has no IDLE; it is polled", mailbox_id)
                self._set_state(mailbox_id, push.POLLING, idle.IdleUnsupported.code)
                await asyncio.sleep(NO_IDLE_RETRY)
            except (errors.MailError, SecretUnreadable, Mailbox.DoesNotExist) as exc:
                failures += 1
                code = getattr(exc, "code", "") or "secret_unreadable"
                wait = backoff(failures)
                log.info("watcher of mailbox %s: %s; again in %.0f s", mailbox_id, code, wait)
                self._set_state(mailbox_id, push.POLLING, code)
                await asyncio.sleep(wait)
            except Exception:
                failures += 1
                log.exception("watcher of mailbox %s failed", mailbox_id)
                self._set_state(mailbox_id, push.POLLING, "internal_error")
                await asyncio.sleep(backoff(failures))
            finally:
                if session is not None:
                    self._open.discard(session)
                    if not session.closed:
                        session.abort()

    async def _idle(self, mailbox_id: int, session: idle.IdleSession) -> None:
        inbox = session.inbox
        if await self._db(push.behind, mailbox_id, inbox.uidvalidity, inbox.uidnext, inbox.exists):
            await self._db(push.new_mail, mailbox_id)
        known = inbox.exists
        async for event in session.idle(self.reissue):
            if event.kind == "expunge":
                known = max(0, known - 1)
            elif event.kind == "exists":
                if event.number > known:
                    log.info("mailbox %s: new mail (%d messages)", mailbox_id, event.number)
                    await self._db(push.new_mail, mailbox_id)
                known = event.number


def start_service() -> WatcherService:
    """Start this worker process's watchers (they only report, and claim nothing,
    when ``POSTKAMER_PUSH`` is off)."""
    service = WatcherService()
    service.start()
    return service
