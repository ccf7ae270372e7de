"""An IMAP server that refuses every login and remembers everything it was sent.

It stands in for a server of an attacker's choosing: a test points a mailbox at it
and then asks whether a stored password ever arrived. It speaks just enough IMAP
for a client to get to its login (CAPABILITY, STARTTLS with a certificate of the
test CA, LOGIN, AUTHENTICATE with its continuation, literals, LOGOUT) and
records the bytes after TLS, so nothing a client sends is hidden from it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import socket
import ssl
import threading
from pathlib import Path

from tests.servers import loopback

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n$")


class RecordingImapServer:
    """Listens on 127.0.0.1 (ephemeral port) until :meth:`stop`."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(str(cert), str(key))
        self._sock, self.port = loopback.listen()
        self.connections = 0
        self.received = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, name="recording-imap", daemon=True).start()

    def saw(self, secret: str) -> bool:
        """True when ``secret`` arrived, as sent or inside a base64 token (SASL)."""
        with self._lock:
            data = bytes(self.received)
        wanted = secret.encode()
        if wanted in data:
            return True
        for token in re.findall(rb"[A-Za-z0-9+/=]{8,}", data):
            with contextlib.suppress(binascii.Error, ValueError):
                if wanted in base64.b64decode(token, validate=True):
                    return True
        return False

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # -- the conversation ---------------------------------------------------------

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        stream = conn.makefile("rb")
        tls = False

        def send(text: str) -> None:
            conn.sendall(text.encode() + b"\r\n")

        def capabilities() -> str:
            return "IMAP4rev1 AUTH=PLAIN" + ("" if tls else " STARTTLS")

        try:
            send(f"* OK [CAPABILITY {capabilities()}] recorder ready")
            while True:
                line = self._read_command(stream, send)
                if not line:
                    return
                tag, _, rest = line.decode("utf-8", "replace").strip().partition(" ")
                verb = rest.split(" ", 1)[0].upper()
                if verb == "CAPABILITY":
                    send(f"* CAPABILITY {capabilities()}")
                    send(f"{tag} OK done")
                elif verb == "STARTTLS" and not tls:
                    send(f"{tag} OK begin TLS")
                    conn = self._tls.wrap_socket(conn, server_side=True)
                    stream = conn.makefile("rb")
                    tls = True
                elif verb == "AUTHENTICATE":
                    if len(rest.split()) < 3:  # no initial response: ask for it
                        send("+ ")
                        self._read_command(stream, send)
                    send(f"{tag} NO [AUTHENTICATIONFAILED] not here")
                elif verb == "LOGOUT":
                    send("* BYE")
                    send(f"{tag} OK bye")
                    return
                else:  # LOGIN and everything else
                    send(f"{tag} NO [AUTHENTICATIONFAILED] not here")
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _read_command(self, stream, send) -> bytes:  # type: ignore[no-untyped-def]
        """One command line with its literals, recorded as it arrives."""
        command = b""
        while True:
            line = stream.readline(65536)
            self._record(line)
            command += line
            literal = _LITERAL.search(line)
            if not line or literal is None:
                return command
            if not literal.group(2):
                send("+ go ahead")
            data = stream.read(int(literal.group(1)))
            self._record(data)
            command += data

    def _record(self, data: bytes) -> None:
        with self._lock:
            self.received += data
