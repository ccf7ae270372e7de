"""A tiny plain-text IMAP server that says exactly what a test tells it to.

It greets, logs anyone in, and answers every ``UID FETCH`` with ``fetch_reply``
(``TAG`` in it becomes the command's tag); any other command gets ``OK``. For the
bulk reader's tests: broken streams, BYE, expunges, literals that hold
look-alike protocol text, over a real socket after imaplib's own greeting and
login.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.servers import loopback


class ScriptedImap:
    """Listens on 127.0.0.1 (ephemeral port) until :meth:`stop`."""

    def __init__(self) -> None:
        self.fetch_reply = b"TAG OK done\r\n"
        self.commands: list[bytes] = []
        self._sock, self.port = loopback.listen()
        self._clients: list[socket.socket] = []
        threading.Thread(target=self._serve, name="scripted-imap", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self._clients.append(client)
            threading.Thread(target=self._session, args=(client,), daemon=True).start()

    def _session(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.sendall(b"* OK [CAPABILITY IMAP4rev1] scripted server ready\r\n")
            reader = client.makefile("rb")
            while line := reader.readline():
                self.commands.append(line)
                tag, _, rest = line.partition(b" ")
                words = rest.upper().split()
                if words[:2] == [b"UID", b"FETCH"]:
                    client.sendall(self.fetch_reply.replace(b"TAG", tag))
                    if b"TAG " not in self.fetch_reply:
                        # No tagged end: the connection ends where the reply does.
                        client.shutdown(socket.SHUT_WR)
                        return
                elif words[:1] == [b"CAPABILITY"]:
                    client.sendall(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
                elif words[:1] == [b"LOGOUT"]:
                    client.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                    return
                else:
                    client.sendall(tag + b" OK done\r\n")
        with contextlib.suppress(OSError):
            client.close()

    def stop(self) -> None:
        """Close the listener and every session."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for client in self._clients:
            with contextlib.suppress(OSError):
                client.close()
