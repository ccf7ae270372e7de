"""A TCP server that accepts and never says a word, and a refused port."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.servers import loopback


class SilentServer:
    """Listens on 127.0.0.1 (ephemeral port), accepts every connection and
    keeps it open without sending anything, until :meth:`stop`."""

    def __init__(self) -> None:
        self._sock, self.port = loopback.listen(64)
        self._clients: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            # Keep a reference so the connection is not closed by GC.
            self._clients.append(conn)

    def stop(self) -> None:
        """Close the listener and every accepted connection."""
        self._stopped.set()
        # close() alone does not wake a thread blocked in accept() on Linux.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for c in self._clients:
            c.close()
        self._thread.join(2)


def closed_port() -> int:
    """Return a 127.0.0.1 port where nothing listens (connect is refused).

    Binds an ephemeral port without listening and keeps nothing open; another
    process could take it in the meantime, but only briefly in practice.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
