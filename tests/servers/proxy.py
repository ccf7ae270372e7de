"""A TCP proxy that can cut the connection after N bytes from the server.

Used to drop an IMAP session after K messages or in the middle of a literal.
The cut applies to connections opened after ``cut_after`` is set.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.servers import loopback


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``; with ``cut_after`` set, each
    new connection is closed once that many server-to-client bytes have passed."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut_after: int | None = None
        self.cuts = 0
        self._sock, self.port = loopback.listen()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, name="cutting-proxy", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, upstream]
            limit = self.cut_after
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        forwarding = True
        cut = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not forwarding:
                    continue  # the server side is gone: drain the client until it closes
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    self.cuts += 1
                    # A FIN after the bytes so far, not a close: closing a socket
                    # with unread input sends a reset, and a reset makes the
                    # client's kernel drop what it received but has not read.
                    dst.shutdown(socket.SHUT_WR)
                    cut = True
                    break
                try:
                    dst.sendall(data)
                except OSError:
                    if limit is not None:
                        raise
                    forwarding = False
                    continue
                sent += len(data)
        except OSError:
            pass
        # After a cut the client end stays open for the other direction, which
        # drains it and closes it once the client has closed.
        for s in (src,) if cut else (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        """Stop listening and close every forwarded connection."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()
