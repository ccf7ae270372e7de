"""Pytest plugin with session-wide real servers (list in ``pytest_plugins``).

Port blocks: worker ``gwN`` of pytest-xdist uses ``31200 + 100 * (N + 1)``;
a run without xdist uses 31200.  Within a block: Dovecot ``+1`` IMAP, ``+2``
IMAPS, ``+3`` LMTP; the Dovecot without IDLE ``+5``..``+7``; SMTP ``+25`` STARTTLS, ``+26`` implicit TLS, ``+27`` plain.
The silent server, the closed port and Dovecot's OAuth2 introspection use
ephemeral ports.  Offsets +4..+24 and +28..+99 are free for other fixtures
(RECIPES uses +21/+22 for a fake IdP, +53 for DNS, +80 for a web server).

Two checkouts may run their suites side by side: without
``POSTKAMER_TEST_PORT_BASE`` the controlling pytest process picks the first of
``BASE_CANDIDATES`` whose three blocks are free and that no other run holds (a
lock file in the temp dir, held until the run ends), and hands it to its xdist
workers through the environment. When every candidate is taken the run stops
with one line saying so. Setting ``POSTKAMER_TEST_PORT_BASE`` skips the search.
Every block stays below the ephemeral range (32768 and up on Linux), where an
outgoing connection may hold a port just when a server wants to listen on it.
The PostgreSQL test database is named after the base too (``tests/settings.py``).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir
from tests.servers.idp import IdentityProvider
from tests.servers.silent import SilentServer
from tests.servers.silent import closed_port as _closed_port
from tests.servers.smtp import SmtpServers, start_smtp_servers
from tests.servers.tls import TestCA, make_test_ca

PORT_BLOCK = 100
#: Bases tried in order; each run uses its base and the two blocks above it.
BASE_CANDIDATES = tuple(range(31200, 32768 - 3 * PORT_BLOCK + 1, 3 * PORT_BLOCK)) + tuple(
    range(28200, 31200, 3 * PORT_BLOCK)
)
#: The offsets inside a block that fixtures listen on (see the module docstring).
_LISTEN_OFFSETS = (1, 2, 3, 5, 6, 7, 25, 26, 27, 40, 53)
_held_lock: object = None


def port_base() -> int:
    """Return this run's port base (chosen by :func:`pytest_configure`)."""
    return int(os.environ.get("POSTKAMER_TEST_PORT_BASE", "31200"))


def worker_port_base() -> int:
    """Return the first port of this process's block (see module docstring)."""
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return port_base() + (PORT_BLOCK * (int(m.group(1)) + 1) if m else 0)


def _ports_free(base: int) -> bool:
    for block in range(3):
        for offset in _LISTEN_OFFSETS:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", base + block * PORT_BLOCK + offset))
                except OSError:
                    return False
    return True


def _claim_port_base() -> int:
    """Lock and return the first free candidate base, or stop the run in one line."""
    global _held_lock
    for base in BASE_CANDIDATES:
        lock = Path(tempfile.gettempdir()) / f"postkamer-test-ports-{base}.lock"
        handle = lock.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if _ports_free(base):
            _held_lock = handle  # held (open) until this process ends
            return base
        handle.close()
    raise pytest.UsageError(
        "postkamer tests: every test port block is busy (other runs or servers on "
        f"127.0.0.1:{BASE_CANDIDATES[-1]}..{BASE_CANDIDATES[0] + 299}); "
        "set POSTKAMER_TEST_PORT_BASE to a free block of 300 ports."
    )


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd 1.4.6 reads its own deprecated attribute; pytest would show it.
    config.addinivalue_line("filterwarnings", "ignore:Session.login_data is deprecated")
    # Only the controlling process chooses; xdist workers inherit its environment.
    if "POSTKAMER_TEST_PORT_BASE" not in os.environ and not hasattr(config, "workerinput"):
        os.environ["POSTKAMER_TEST_PORT_BASE"] = str(_claim_port_base())


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


#: What Dovecot announces after login, less IDLE (its other extensions stay).
CAPABILITY_WITHOUT_IDLE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT UNSELECT CHILDREN NAMESPACE "
    "UIDPLUS LIST-EXTENDED CONDSTORE ESEARCH LIST-STATUS MOVE LITERAL+ SPECIAL-USE"
)


@pytest.fixture(scope="session")
def dovecot_without_idle(test_ca: TestCA) -> Iterator[Dovecot]:
    """A second Dovecot whose capabilities lack IDLE; started only when a test asks."""
    workdir = make_workdir()
    server = Dovecot(
        workdir, worker_port_base() + 4, test_ca, imap_capability=CAPABILITY_WITHOUT_IDLE
    )
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


@pytest.fixture(scope="session")
def idp(test_ca: TestCA, dovecot: Dovecot, smtp_servers: SmtpServers) -> Iterator[IdentityProvider]:
    """The local HTTPS identity platform (``tests/servers/idp.py``); Dovecot's XOAUTH2
    and the SMTP server's accept exactly the access tokens that are live there."""
    server = IdentityProvider(test_ca)
    server.start()
    dovecot.set_token_lookup(server.login_name)
    smtp_servers.token_check = server.allows
    yield server
    dovecot.set_token_lookup(None)
    smtp_servers.token_check = None
    server.stop()
