"""The bulk FETCH reader against a scripted IMAP server that sends canned replies."""

from __future__ import annotations

import datetime as dt

import pytest

from postkamer.mail import errors, imap, imapfetch
from tests.mail.conftest import settings
from tests.servers.scripted import ScriptedImap


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedImap()
    yield server
    server.stop()


@pytest.fixture
def conn_for(scripted, options):
    """Log in to the scripted server (which will answer the FETCH with the reply
    given) and close the connection after the test."""
    opened = []

    def connect(reply: bytes) -> imap.ImapConnection:
        scripted.fetch_reply = reply
        conn = imap.connect(settings(scripted.port, "none", host="127.0.0.1"), options)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.shutdown()


def body(uid: int, data: bytes, flags: bytes = b"") -> bytes:
    return (
        b'* 1 FETCH (UID %d FLAGS (%s) INTERNALDATE " 6-Nov-2026 23:30:00 +0100" BODY[] {%d}\r\n'
        % (uid, flags, len(data))
        + data
        + b")\r\n"
    )


def test_bodies_flags_and_dates_are_read_exactly(conn_for, scripted):
    raw = b"Subject: x\r\n\r\n{5}\r\n)\r\n* BYE not really\r\n"
    conn = conn_for(body(7, raw, b"\\Seen \\Flagged") + b"TAG OK done\r\n")
    [message] = imapfetch.fetch_messages(conn, [7])
    assert message.raw == raw
    assert message.seen and message.flags == ("\\Seen", "\\Flagged")
    assert message.internal_date == dt.datetime(2026, 11, 6, 22, 30, tzinfo=dt.UTC)
    assert scripted.commands[-1].endswith(b" UID FETCH 7 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n")
    # The session goes on normally after the reader's command.
    assert conn.noop()[0].startswith(b"done")


def test_expunges_flag_updates_and_unasked_uids_are_skipped(conn_for):
    response = (
        b"* 3 EXPUNGE\r\n"
        b"* 2 FETCH (FLAGS (\\Seen))\r\n"
        + body(9, b"ongevraagd")
        + b"* 1 FETCH (UID 4 BODY[] NIL)\r\n"
        + b"* 1 FETCH (BODY[] {3}\r\nabc UID 5)\r\n"
        + b"TAG NO [EXPUNGEISSUED] Some messages were expunged\r\n"
    )
    conn = conn_for(response)
    got = [(m.uid, m.raw) for m in imapfetch.fetch_messages(conn, [4, 5, 6])]
    assert got == [(5, b"abc")]


@pytest.mark.parametrize(
    "response",
    [
        b"* BYE shutting down\r\n",
        b"TAG BAD syntax\r\n",
        body(1, b"x" * 100)[:60],  # cut inside the literal
        b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc",
        b"",
    ],
)
def test_a_broken_stream_is_a_protocol_error(conn_for, response):
    conn = conn_for(response)
    with pytest.raises(errors.ProtocolError):
        list(imapfetch.fetch_messages(conn, [1]))


def test_uid_sets_are_compact():
    assert imapfetch.uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"


def test_internaldate_keeps_its_own_offset():
    summer = imapfetch.parse_internaldate(b"01-Jul-2026 12:00:00 +0200")
    assert summer.utcoffset() == dt.timedelta(hours=2)
    assert summer.astimezone(dt.UTC).hour == 10
