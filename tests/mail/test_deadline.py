"""Total deadlines: a server that drips bytes cannot hold an operation past its
deadline, while an honest slow server still gets time for what it sends."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from postkamer.mail import errors, imap, imapfetch, smtp
from postkamer.mail.deadline import Deadline, watching
from tests.mail.conftest import settings
from tests.servers.drip import DrippingProxy

#: Each byte arrives within the 1 s read time-out of the test options.
DRIP = 0.1
DEADLINE = 1.5
#: What a loaded machine may add to a deadline before the test gives up on it.
SLACK = 1.5


@pytest.fixture
def short(options):
    return dataclasses.replace(options, deadline=DEADLINE)


@pytest.fixture
def drip_proxies():
    made: list[DrippingProxy] = []

    def make(port: int, **kwargs) -> DrippingProxy:
        proxy = DrippingProxy(port, **kwargs)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()


def test_the_watchdog_shuts_the_socket_down_when_the_deadline_passes():
    ours, theirs = socket.socketpair()
    started = time.monotonic()
    with pytest.raises(errors.Timeout), watching(Deadline(0.3, "the peer"), ours):
        ours.recv(10)  # the peer never writes: only the watchdog ends this
    assert 0.25 < time.monotonic() - started < 0.3 + SLACK
    ours.close()
    theirs.close()


def test_an_extended_or_held_deadline_does_not_fire_early():
    ours, theirs = socket.socketpair()
    deadline = Deadline(0.3)
    with watching(deadline, ours):
        deadline.extend(0.3)
        time.sleep(0.4)
        with deadline.hold():
            time.sleep(0.4)
        theirs.sendall(b"x")
        assert ours.recv(1) == b"x"
    assert not deadline.fired
    ours.close()
    theirs.close()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_dripping_imap_server_fails_the_login_within_the_deadline(
    dovecot, imap_user, short, drip_proxies, security
):
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    proxy = drip_proxies(port, drip_after=0, interval=DRIP)
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        imap.check_login(settings(proxy.port, security, *imap_user), short)
    assert time.monotonic() - started < DEADLINE + SLACK


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_dripping_smtp_server_fails_the_login_within_the_deadline(
    smtp_servers, short, drip_proxies, security
):
    port = smtp_servers.implicit_port if security == "ssl" else smtp_servers.starttls_port
    proxy = drip_proxies(port, drip_after=0, interval=DRIP)
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        smtp.check_login(settings(proxy.port, security, "a@example.test", "x"), short)
    assert time.monotonic() - started < DEADLINE + SLACK


def _deliver(dovecot, email, count, size):
    for n in range(count):
        raw = b"Subject: %d\r\nMessage-ID: <d%d@x>\r\n\r\n" % (n, n) + b"x" * size + b"\r\n"
        dovecot.deliver(email, raw)


def test_a_bulk_fetch_that_starts_dripping_times_out_within_its_deadline(
    dovecot, imap_user, short, drip_proxies
):
    email, password = imap_user
    _deliver(dovecot, email, 3, 20_000)
    proxy = drip_proxies(dovecot.imap_port, drip_after=None, interval=DRIP)
    conn = imap.connect(settings(proxy.port, "starttls", email, password), short)
    try:
        imapfetch.examine(conn, "INBOX")
        uids = imapfetch.uids_after(conn, 0)
        proxy.start_dripping()
        started = time.monotonic()
        with pytest.raises(errors.Timeout):
            list(imapfetch.fetch_messages(conn, uids))
        # 20 KB were announced: the deadline grew by 20 KB / 64 KB/s at most.
        assert time.monotonic() - started < DEADLINE + 1 + SLACK
    finally:
        conn.shutdown()


def test_an_honest_slow_server_gets_time_for_the_bytes_it_announces(
    dovecot, imap_user, short, drip_proxies
):
    email, password = imap_user
    _deliver(dovecot, email, 1, 3_000_000)
    # 1 MB/s: the 3 MB message takes about 3 s, twice the base deadline.
    proxy = drip_proxies(dovecot.imap_port, drip_after=None, interval=0.064, chunk=65536)
    patient = dataclasses.replace(short, min_rate=512 * 1024)
    conn = imap.connect(settings(proxy.port, "starttls", email, password), patient)
    try:
        imapfetch.examine(conn, "INBOX")
        uids = imapfetch.uids_after(conn, 0)
        proxy.start_dripping()
        started = time.monotonic()
        [message] = imapfetch.fetch_messages(conn, uids)
        assert time.monotonic() - started > DEADLINE
        assert len(message.raw) > 3_000_000
    finally:
        conn.shutdown()


def test_time_spent_by_the_caller_between_messages_does_not_count(dovecot, imap_user, options):
    email, password = imap_user
    _deliver(dovecot, email, 3, 100)
    quick = dataclasses.replace(options, deadline=0.5)
    conn = imap.connect(settings(dovecot.imap_port, "starttls", email, password), quick)
    try:
        imapfetch.examine(conn, "INBOX")
        got = []
        for message in imapfetch.fetch_messages(conn, imapfetch.uids_after(conn, 0)):
            time.sleep(0.4)  # e.g. waiting for the database
            got.append(message.uid)
        assert len(got) == 3
        assert imapfetch.status(conn, "INBOX").messages == 3
    finally:
        conn.shutdown()
