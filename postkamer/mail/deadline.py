"""A total time limit for one mail operation, whatever the server drips.

A socket time-out bounds each read only: a server that sends one byte a second
never trips it, and kept a connection test busy for over a minute. A
:class:`Deadline` bounds the whole operation (connect + TLS + login, or one
command). One watchdog thread per process keeps the armed deadlines in a heap;
when one passes, it shuts the operation's socket down, so whatever read or write
is blocked in imaplib, smtplib or ssl ends at once, and leaving the ``with`` block
raises :class:`errors.Timeout` instead of the error that shutdown caused.

Why a watchdog rather than capping each socket time-out at the time left: the
reads happen inside libraries we do not own (imaplib, smtplib, the TLS handshake),
and a shutdown works the same under all of them.

The socket is shut down through a duplicate of its descriptor, taken when it is
attached: a TLS wrap (implicit or STARTTLS) replaces the Python socket object but
not the kernel socket, and the duplicate is ours until the deadline is disarmed,
so a descriptor number the process reused for something else is never hit.

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from postkamer.mail import errors

#: While a deadline is held, the watchdog looks again after this long at least.
_HELD_RECHECK = 0.05


class Deadline:
    """The moment by which one operation must be done.

    Use it as a context manager around the operation (nesting is allowed: only
    the outermost ``with`` arms and disarms it) and :meth:`attach` the socket the
    operation talks on. When the moment passes while armed, the socket is shut
    down and the ``with`` block raises ``Timeout``. A deadline is used by one
    thread at a time; only the watchdog looks at it from another.
    """

    def __init__(self, seconds: float, what: str = "the server") -> None:
        self.seconds = seconds
        self.what = what
        #: ``time.monotonic()`` value; written by the owner thread only.
        self.at = time.monotonic() + seconds
        self._depth = 0
        self._armed = False
        self._fired = False
        self._sock: socket.socket | None = None
        self._held_left: float | None = None

    def remaining(self) -> float:
        """Return the seconds left (0 when passed)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def fired(self) -> bool:
        """True once the watchdog shut the socket down."""
        return self._fired

    def extend(self, seconds: float) -> None:
        """Move the moment ``seconds`` later (e.g. for the bytes a server announced)."""
        self.at += seconds

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock`` (replacing the socket watched before, if any)."""
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with _watchdog.lock:
            old, self._sock = self._sock, dup
            fired = self._fired
        if old is not None:
            old.close()
        if fired:
            _shutdown(dup)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Stop the clock while the caller does its own work (e.g. waits for the
        database between two messages): only time spent on the server counts."""
        left = self.at - time.monotonic()
        self._held_left = left
        try:
            yield
        finally:
            self.at = time.monotonic() + left
            self._held_left = None

    def __enter__(self) -> Deadline:
        self._depth += 1
        if self._depth == 1:
            _watchdog.arm(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        fired = _watchdog.disarm(self) if self._depth == 0 else self._fired
        if fired:
            # Whatever the shutdown made the library raise (EOF, a TLS error, a
            # "connection closed") is a consequence; the cause is the time.
            raise errors.Timeout(f"{self.what} did not finish within {self.seconds:g} s") from None


@contextlib.contextmanager
def watching(deadline: Deadline, sock: socket.socket) -> Iterator[Deadline]:
    """Arm ``deadline`` (if not armed already) and watch ``sock`` for the block."""
    with deadline:
        deadline.attach(sock)
        yield deadline


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """The thread that shuts down the sockets of passed deadlines."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self.lock:
            deadline._armed = True
            deadline._fired = False
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mail-deadline-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is deadline:
                self.lock.notify()

    def disarm(self, deadline: Deadline) -> bool:
        """Stop watching ``deadline``; returns True when it had fired."""
        with self.lock:
            deadline._armed = False
            sock, deadline._sock = deadline._sock, None
            fired = deadline._fired
        if sock is not None:
            sock.close()
        return fired

    def _run(self) -> None:
        with self.lock:
            while True:
                if not self._heap:
                    self.lock.wait()
                    continue
                at, _seq, deadline = self._heap[0]
                if not deadline._armed:
                    heapq.heappop(self._heap)
                    continue
                now = time.monotonic()
                if now < at:
                    self.lock.wait(at - now)
                    continue
                heapq.heappop(self._heap)
                held = deadline._held_left
                if held is not None:
                    again = now + max(held, _HELD_RECHECK)
                elif deadline.at > now:
                    again = deadline.at  # extended meanwhile
                else:
                    deadline._fired = True
                    if deadline._sock is not None:
                        _shutdown(deadline._sock)
                    continue
                heapq.heappush(self._heap, (again, next(self._seq), deadline))

    def _after_fork(self) -> None:
        # The thread does not survive a fork, and its lock may have been held.
        self.lock = threading.Condition()
        self._heap = []
        self._thread = None


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog._after_fork)
