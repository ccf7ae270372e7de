"""The listening socket the tests' small servers share: 127.0.0.1, a free port."""

from __future__ import annotations

import socket


def listen(backlog: int = 16) -> tuple[socket.socket, int]:
    """A TCP socket listening on 127.0.0.1 at a port the kernel picks, and that port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock, sock.getsockname()[1]
