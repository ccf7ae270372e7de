"""Pytest plugin with session-wide real servers (list in ``pytest_plugins``).

Port blocks: worker ``gwN`` of pytest-xdist uses ``31200 + 100 * (N + 1)``;
a run without xdist uses 31200.  Within a block: Dovecot ``+1`` IMAP, ``+2``
IMAPS, ``+3`` LMTP; SMTP ``+25`` STARTTLS, ``+26`` implicit TLS, ``+27`` plain.
The silent server, the closed port and Dovecot's OAuth2 introspection use
ephemeral ports.  Offsets +4..+24 and +28..+99 are free for other fixtures
(RECIPES uses +21/+22 for a fake IdP, +53 for DNS, +80 for a web server).

Set ``POSTKAMER_TEST_PORT_BASE`` to move all blocks, e.g. when two checkouts
run their suites at the same time. Keep every block below the ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``, 32768 and up on Linux): there an
outgoing connection may hold a port just when a server wants to listen on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir
from tests.servers.silent import SilentServer
from tests.servers.silent import closed_port as _closed_port
from tests.servers.smtp import SmtpServers, start_smtp_servers
from tests.servers.tls import TestCA, make_test_ca

PORT_BASE = int(os.environ.get("POSTKAMER_TEST_PORT_BASE", "31200"))
PORT_BLOCK = 100


def worker_port_base() -> int:
    """Return the first port of this process's block (see module docstring)."""
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return PORT_BASE + (PORT_BLOCK * (int(m.group(1)) + 1) if m else 0)


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd 1.4.6 reads its own deprecated attribute; pytest would show it.
    config.addinivalue_line("filterwarnings", "ignore:Session.login_data is deprecated")


@pytest.fixture(scope="session")
def test_ca() -> Iterator[TestCA]:
    """Throwaway CA + server cert for localhost/127.0.0.1 + untrusted cert."""
    workdir = make_workdir("postkamer-tls-")
    yield make_test_ca(workdir)
    remove_workdir(workdir)


@pytest.fixture(scope="session")
def dovecot(test_ca: TestCA) -> Iterator[Dovecot]:
    """A running Dovecot for the whole session (stop costs about 1 s)."""
    workdir = make_workdir()
    server = Dovecot(workdir, worker_port_base(), test_ca)
    server.start()
    yield server
    server.close()
    remove_workdir(workdir)


@pytest.fixture
def imap_user(dovecot: Dovecot) -> tuple[str, str]:
    """A fresh Dovecot user for this test: (email, password)."""
    return dovecot.new_user()


@pytest.fixture(scope="session")
def smtp_servers(test_ca: TestCA) -> Iterator[SmtpServers]:
    """aiosmtpd STARTTLS, implicit-TLS and plain controllers."""
    servers = start_smtp_servers(test_ca, worker_port_base())
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def silent_server() -> Iterator[SilentServer]:
    """A server that accepts connections and never answers."""
    server = SilentServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def closed_port() -> int:
    """A 127.0.0.1 port where connections are refused."""
    return _closed_port()
