"""Parsing messages in helper processes, so MIME parsing does not compete with
the download and the database writes for the fetching process's GIL.

Nothing here imports Django: the helpers are started from a ``forkserver``
(never by forking a process that holds database connections and threads) and
import only :mod:`postkamer.mail.mime`.

Each helper has its own pipe. The parent keeps one end, the helper gets only the
other, so a helper sees end-of-file and exits when the parent closes the pool or
dies (even by SIGKILL): helpers never outlive the fetch that started them.
Messages travel with ``send_bytes`` (no pickling copy of the raw bytes); only the
small parse results are pickled back.

:class:`ParserPool` is used from two threads of one fetch: the batch reader
submits, the committing thread collects, in the same order. A helper that
fails (crash, killed) is not fatal: its share of the batch is parsed inline
and the pool falls back to inline parsing for the rest of the fetch.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection

from postkamer.mail import mime

#: Tells a helper to exit.
_STOP = -1


def _serve(conn: Connection) -> None:
    """Helper process: parse the messages of each job and send the results back."""
    try:
        while True:
            count = conn.recv()
            if count == _STOP:
                return
            raws = [conn.recv_bytes() for _ in range(count)]
            conn.send([mime.parse_message(raw) for raw in raws])
    except (EOFError, OSError, KeyboardInterrupt):
        return  # the parent went away: nothing left to do
    finally:
        conn.close()


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: helpers are forked from a small clean server process, not from
    # the fetching process (threads, database connections, sockets). Its preload
    # makes starting a helper cost a fork instead of a Python start-up.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["postkamer.mail.parsepool"])
    return ctx


Collect = Callable[[], list[mime.ParsedMessage]]


class ParserPool:
    """``size`` helper processes; see the module docstring. Use as a context
    manager: leaving it stops and reaps every helper."""

    def __init__(self, size: int) -> None:
        ctx = _context()
        self._conns: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        # Set by either thread when a helper failed; a plain flag is enough, it
        # only ever goes from False to True.
        self._broken = False
        try:
            for _ in range(max(1, size)):
                parent, child = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=_serve, args=(child,), name="postkamer-parser", daemon=True
                )
                proc.start()
                child.close()  # only the helper holds its end: EOF tells us it died
                self._conns.append(parent)
                self._procs.append(proc)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, raws: list[bytes]) -> Collect:
        """Start parsing ``raws``; returns a function that waits for and returns
        their results, in order. Never raises for a failed helper (the messages
        are parsed inline instead)."""
        if not raws:
            return list
        n = len(self._conns)
        per = -(-len(raws) // n)
        chunks = [raws[i : i + per] for i in range(0, len(raws), per)]
        sent: list[Connection | None] = []
        for conn, chunk in zip(self._conns, chunks, strict=False):
            sent.append(conn if self._send(conn, chunk) else None)

        def collect() -> list[mime.ParsedMessage]:
            results: list[mime.ParsedMessage] = []
            for conn, chunk in zip(sent, chunks, strict=False):
                parsed = self._receive(conn) if conn is not None else None
                if parsed is None or len(parsed) != len(chunk):
                    parsed = [mime.parse_message(raw) for raw in chunk]
                results.extend(parsed)
            return results

        return collect

    def _send(self, conn: Connection, chunk: list[bytes]) -> bool:
        if self._broken:
            return False
        try:
            conn.send(len(chunk))
            for raw in chunk:
                conn.send_bytes(raw)
        except (OSError, ValueError):
            self._broken = True
            return False
        return True

    def _receive(self, conn: Connection) -> list[mime.ParsedMessage] | None:
        try:
            parsed = conn.recv()
        except (EOFError, OSError, ValueError):
            self._broken = True
            return None
        return parsed if isinstance(parsed, list) else None

    def kill(self) -> None:
        """Kill the helpers at once (the fetch failed): a thread blocked sending
        them a job gets an error instead of waiting for a reader that never comes.
        The pipes stay open until :meth:`close`, so no other thread can write into
        a reused file descriptor."""
        self._broken = True
        for proc in self._procs:
            with contextlib.suppress(OSError, ValueError):
                proc.kill()

    def close(self) -> None:
        """Stop the helpers and reap them. Call it when no other thread uses the
        pool any more. An idle helper exits on the end-of-file of its pipe."""
        self._broken = True
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.close()
        for proc in self._procs:
            proc.join(1)
            if proc.is_alive():
                proc.kill()
                proc.join(1)
        self._conns, self._procs = [], []
