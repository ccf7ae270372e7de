"""The Dovecot test helpers themselves work."""

from __future__ import annotations

import datetime as dt

import imapclient
import pytest

from postkamer.mail import errors, imap
from tests.mail.conftest import settings


def _client(dovecot, email, password):
    c = imapclient.IMAPClient("127.0.0.1", dovecot.imap_port, ssl=False, timeout=5)
    c.login(email, password)
    # imapclient's "normalised" local times use today's UTC offset for every date,
    # which is an hour off across daylight saving time; keep the server's offset.
    c.normalise_times = False
    return c


def test_deliver_stores_flags_and_internaldate(dovecot, imap_user):
    email, password = imap_user
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    uid = dovecot.deliver(
        email, b"Subject: one\r\n\r\nbody\r\n", flags=["\\Seen"], internaldate=when
    )
    uids = dovecot.deliver_many(
        email, [b"Subject: m%d\r\n\r\nx\r\n" % i for i in range(1200)], "Sent"
    )
    assert uids == list(range(1, 1201))
    with _client(dovecot, email, password) as c:
        c.select_folder("INBOX")
        data = c.fetch([uid], ["FLAGS", "INTERNALDATE"])[uid]
        assert b"\\Seen" in data[b"FLAGS"]
        assert data[b"INTERNALDATE"].astimezone(dt.UTC) == when
        assert c.folder_status("Sent", ["MESSAGES"])[b"MESSAGES"] == 1200


def test_uidvalidity_change_is_seen_by_a_new_session(dovecot, imap_user):
    email, password = imap_user
    dovecot.deliver(email, b"Subject: a\r\n\r\nx\r\n")
    old = dovecot.uidvalidity(email, "INBOX")
    dovecot.set_uidvalidity(email, "INBOX", old + 1000)
    with _client(dovecot, email, password) as c:
        assert c.select_folder("INBOX")[b"UIDVALIDITY"] == old + 1000
        assert c.search() == [1]


def test_set_password_makes_the_old_password_fail(dovecot, imap_user, options):
    email, old_password = imap_user
    dovecot.set_password(email, "new-" + old_password)
    with pytest.raises(errors.AuthFailed):
        imap.check_login(settings(dovecot.imaps_port, "ssl", email, old_password), options)
    imap.check_login(settings(dovecot.imaps_port, "ssl", email, "new-" + old_password), options)


def test_folder_helpers_expunge_and_move(dovecot, imap_user):
    email, password = imap_user
    uids = dovecot.deliver_many(email, [b"Subject: %d\r\n\r\nx\r\n" % i for i in range(4)])
    dovecot.create_folder(email, "Work")
    dovecot.move(email, "INBOX", uids[:2], "Work")
    dovecot.expunge(email, "INBOX", uids[2:3])
    dovecot.rename_folder(email, "Work", "Werk")
    with _client(dovecot, email, password) as c:
        names = [name for _, _, name in c.list_folders()]
        assert "Werk" in names and "Work" not in names
        c.select_folder("INBOX")
        assert c.search() == uids[3:]
        assert c.folder_status("Werk", ["MESSAGES"])[b"MESSAGES"] == 2
    dovecot.delete_folder(email, "Werk")
    with _client(dovecot, email, password) as c:
        assert "Werk" not in [name for _, _, name in c.list_folders()]


def test_lmtp_port_greets(dovecot, imap_user):
    import smtplib

    email, password = imap_user
    with smtplib.LMTP("127.0.0.1", dovecot.lmtp_port) as lmtp:
        lmtp.sendmail("a@example.test", [email], b"Subject: via lmtp\r\n\r\nx\r\n")
    with _client(dovecot, email, password) as c:
        assert c.select_folder("INBOX")[b"EXISTS"] == 1
