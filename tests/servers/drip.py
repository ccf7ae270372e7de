"""A TCP proxy whose server side drips: after ``drip_after`` bytes from the server
(or from the moment :meth:`DrippingProxy.start_dripping` is called), it passes
``chunk`` bytes every ``interval`` seconds.

Put in front of Dovecot or aiosmtpd, it is the slow server of the deadline tests:
with one byte at a time, each arrives well within any read time-out, so only a
total deadline ends the operation; with bigger chunks it is an honest but slow
line. ``drip_after``, ``chunk`` and ``interval`` apply to connections opened after
they are set.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.servers import loopback


class DrippingProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``; the server's bytes after the
    first ``drip_after`` go one at a time, ``interval`` seconds apart."""

    def __init__(
        self,
        target_port: int,
        drip_after: int | None = 0,
        interval: float = 0.2,
        chunk: int = 1,
    ) -> None:
        self.target_port = target_port
        self.drip_after = drip_after
        self.interval = interval
        self.chunk = chunk
        self.connections = 0
        self._dripping = threading.Event()
        self._sock, self.port = loopback.listen()
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, name="dripping-proxy", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.connections += 1
            self._open += [client, upstream]
            after, interval, chunk = self.drip_after, self.interval, self.chunk
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(
                target=self._drip, args=(upstream, client, after, interval, chunk), daemon=True
            ).start()

    def start_dripping(self) -> None:
        """From now on, every open connection drips too."""
        self._dripping.set()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        self._close(src, dst)

    def _drip(
        self,
        src: socket.socket,
        dst: socket.socket,
        after: int | None,
        interval: float,
        chunk: int,
    ) -> None:
        sent = 0
        try:
            while not self._stopped.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if self._dripping.is_set():
                    fast = 0
                elif after is None:
                    fast = len(data)
                else:
                    fast = max(0, min(len(data), after - sent))
                if fast:
                    dst.sendall(data[:fast])
                    sent += fast
                for i in range(fast, len(data), chunk):
                    if self._stopped.wait(interval):
                        return
                    dst.sendall(data[i : i + chunk])
                    sent += len(data[i : i + chunk])
        except OSError:
            pass
        finally:
            self._close(src, dst)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        """Stop listening and close every forwarded connection."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._close(*self._open)
