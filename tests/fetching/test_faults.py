"""Fetching against a real Dovecot while the server, the network or the mail misbehaves.

After the next successful fetch the database must hold exactly the server's
messages, each once (docs/product.md, Fetching).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import zoneinfo

import pytest
from django.db import connection
from django.utils import timezone

from postkamer.fetching import engine, reader, store
from postkamer.fetching.models import FolderState
from postkamer.mail import errors, imap, imapfetch
from postkamer.mailboxes.connection import connect_options, imap_settings
from postkamer.mailboxes.models import Mailbox
from postkamer.messages import rawstore
from postkamer.messages.models import Message
from tests.fetching.conftest import make_message

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


def stored(box, folder="inbox"):
    return sorted(
        Message.objects.filter(mailbox=box.mailbox, folder=folder).values_list("subject", flat=True)
    )


def expire_lease(box):
    Mailbox.objects.filter(pk=box.mailbox.pk).update(lease_until=timezone.now())


# -- UIDVALIDITY ------------------------------------------------------------------------


def test_a_new_uidvalidity_with_the_same_messages_duplicates_nothing(box, dovecot):
    box.deliver(make_message("Een"))
    box.deliver(make_message("Twee", message_id=None))
    assert box.fetch().new_messages == 2
    dovecot.set_uidvalidity(box.email, "INBOX", dovecot.uidvalidity(box.email) + 1000)
    outcome = box.fetch()
    assert outcome.ok and outcome.new_messages == 0
    assert stored(box) == ["Een", "Twee"]
    state = FolderState.objects.get(mailbox=box.mailbox, role="inbox")
    assert state.uidvalidity == dovecot.uidvalidity(box.email)


def test_a_new_uidvalidity_with_new_messages_imports_only_the_new_ones(box, dovecot):
    box.deliver(make_message("Oud"))
    box.fetch()
    box.deliver(make_message("Nieuw"))
    dovecot.set_uidvalidity(box.email, "INBOX", dovecot.uidvalidity(box.email) + 1000)
    assert box.fetch().new_messages == 1
    assert stored(box) == ["Nieuw", "Oud"]
    box.deliver(make_message("Daarna"))
    assert box.fetch().new_messages == 1
    assert stored(box) == ["Daarna", "Nieuw", "Oud"]


# -- messages that move or vanish ----------------------------------------------------------


def test_a_message_expunged_between_search_and_fetch_is_skipped(box, dovecot, settings):
    uids = [box.deliver(make_message(f"Bericht {i}")) for i in range(3)]
    conn = imap.connect(imap_settings(box.mailbox), connect_options())
    try:
        imapfetch.examine(conn, "INBOX")
        found = imapfetch.uids_after(conn, 0)
        assert found == uids
        dovecot.expunge(box.email, "INBOX", [uids[1]])
        got = [m.uid for m in imapfetch.fetch_messages(conn, found)]
    finally:
        conn.shutdown()
    assert got == [uids[0], uids[2]]


def test_a_message_moved_to_junk_shows_up_in_junk_too(box, dovecot):
    Mailbox.objects.filter(pk=box.mailbox.pk).update(junk_folder="Junk")
    uid = box.deliver(make_message("Verdacht"))
    box.fetch()
    dovecot.move(box.email, "INBOX", [uid], "Junk")
    assert box.fetch().new_messages == 1
    assert stored(box, "junk") == ["Verdacht"]
    assert stored(box, "inbox") == ["Verdacht"]
    assert box.fetch().new_messages == 0


def test_uid_n_star_returning_the_highest_message_is_filtered(box):
    box.deliver(make_message("Enige"))
    box.fetch()
    conn = imap.connect(imap_settings(box.mailbox), connect_options())
    try:
        imapfetch.examine(conn, "INBOX")
        # 5:* matches the message with UID 1 (RFC 3501 §6.4.8).
        assert imapfetch.uids_after(conn, 4) == []
        assert list(imapfetch.fetch_messages(conn, [5])) == []
    finally:
        conn.shutdown()


# -- awkward messages ----------------------------------------------------------------------


def test_a_message_without_message_id_is_stored_once_across_polls(box):
    box.deliver(make_message("Zonder id", message_id=None))
    assert box.fetch().new_messages == 1
    assert box.fetch().new_messages == 0
    assert stored(box) == ["Zonder id"]


def test_two_different_messages_with_one_message_id_are_both_kept(box):
    box.deliver(make_message("Versie 1", message_id="<zelfde@example.test>"))
    box.deliver(make_message("Versie 2", message_id="<zelfde@example.test>"))
    assert box.fetch().new_messages == 2
    assert stored(box) == ["Versie 1", "Versie 2"]


def test_broken_messages_are_stored_and_do_not_stop_the_rest(box):
    box.deliver(b"Subject: Alleen kop\r\nMessage-ID: <kop@example.test>\r\n\r\n")
    box.deliver(
        b"Subject: Rare tekenset\r\nContent-Type: text/plain; charset=x-onbekend\r\n\r\n\xff\xfe caf\xe9\r\n"
    )
    box.deliver(
        b"Subject: Kapotte grens\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n--xyz\r\nhallo\r\n'
    )
    box.deliver(b"\x00\x01\x02 geen kopregels\r\n")
    box.deliver(make_message("Gewoon"))
    outcome = box.fetch()
    assert outcome.ok and outcome.new_messages == 5
    subjects = stored(box)
    assert "Alleen kop" in subjects and "Gewoon" in subjects and "Kapotte grens" in subjects
    charset = Message.objects.get(mailbox=box.mailbox, subject="Rare tekenset")
    assert "caf" in charset.text
    for message in Message.objects.filter(mailbox=box.mailbox):
        assert rawstore.read(message.raw)[:4] in {
            b"Subj",
            b"From",
            b"\x80\x01\x02 ",
        }  # Dovecot turns NUL into 0x80


def test_a_30_mb_message_is_stored_byte_exact(box):
    body = ("x" * 76 + "\r\n") * (30 * 1024 * 1024 // 78)
    raw = make_message("Groot", body=body)
    box.deliver(raw)
    assert box.fetch().new_messages == 1
    message = Message.objects.get(mailbox=box.mailbox)
    assert message.size == len(raw)
    assert rawstore.read(message.raw) == raw


# -- folders -----------------------------------------------------------------------------


def test_a_deleted_folder_fails_alone_and_the_others_go_on(box, dovecot):
    dovecot.create_folder(box.email, "Spam")
    Mailbox.objects.filter(pk=box.mailbox.pk).update(junk_folder="Spam", sent_folder="Sent")
    box.deliver(make_message("Ongewenst"), folder="Spam")
    box.fetch()
    dovecot.delete_folder(box.email, "Spam")
    box.deliver(make_message("Binnen"))
    box.deliver(make_message("Verstuurd"), folder="Sent")
    outcome = box.fetch()
    assert isinstance(outcome.error, errors.FolderMissing)
    assert outcome.error.folder == "Spam"
    assert "Spam" in outcome.error_text
    assert stored(box, "inbox") == ["Binnen"]
    assert stored(box, "sent") == ["Verstuurd"]
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 1


def test_a_renamed_folder_is_missing_under_its_old_name(box, dovecot):
    dovecot.create_folder(box.email, "Archief")
    Mailbox.objects.filter(pk=box.mailbox.pk).update(sent_folder="Archief")
    box.fetch()
    dovecot.rename_folder(box.email, "Archief", "Archief-oud")
    box.deliver(make_message("Nog binnen"))
    outcome = box.fetch()
    assert outcome.error_code == "folder_missing"
    assert stored(box) == ["Nog binnen"]


# -- the network and the server -----------------------------------------------------------


def test_a_server_restart_between_polls_reconnects(box, dovecot):
    box.deliver(make_message("Voor"))
    box.fetch()
    assert len(engine.pool) == 1
    dovecot.restart()
    box.deliver(make_message("Na"))
    outcome = box.fetch()
    assert outcome.ok, outcome.error
    assert stored(box) == ["Na", "Voor"]


def test_a_connection_cut_after_some_messages_loses_and_duplicates_nothing(box, proxy, monkeypatch):
    monkeypatch.setattr(reader, "BATCH_MESSAGES", 1)
    for i in range(4):
        box.deliver(make_message(f"Deel {i}", body="regel\r\n" * 2000))
    Mailbox.objects.filter(pk=box.mailbox.pk).update(imap_port=proxy.port)
    # Enough for the greeting, TLS, login and about two messages.
    proxy.cut_after = 40_000
    outcome = box.fetch()
    assert outcome.error_code == "protocol_error"
    assert proxy.cuts == 1
    partial = Message.objects.filter(mailbox=box.mailbox).count()
    assert 1 <= partial < 4
    proxy.cut_after = None
    assert box.fetch().ok
    assert stored(box) == [f"Deel {i}" for i in range(4)]


def test_a_connection_cut_in_the_middle_of_a_literal_is_a_protocol_error(box, proxy):
    box.deliver(make_message("Lang", body="a" * 70 + "\r\n" * 1) * 1 + b"b" * 300_000)
    Mailbox.objects.filter(pk=box.mailbox.pk).update(imap_port=proxy.port)
    proxy.cut_after = 150_000
    outcome = box.fetch()
    assert outcome.error_code == "protocol_error"
    assert Message.objects.filter(mailbox=box.mailbox).count() == 0
    proxy.cut_after = None
    assert box.fetch().new_messages == 1


def test_a_changed_password_counts_as_an_error(box, dovecot):
    dovecot.set_password(box.email, "iets-anders")
    outcome = box.fetch()
    assert outcome.error_code == "auth_failed"
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 1
    assert box.mailbox.last_error_code == "auth_failed"
    assert box.mailbox.last_error == "De gebruikersnaam of het wachtwoord klopt niet."
    assert box.mailbox.lease_until is None


def test_an_untrusted_certificate_is_refused(box, settings):
    settings.POSTKAMER_CA_FILE = None
    outcome = box.fetch()
    assert outcome.error_code == "certificate_untrusted"


def test_a_server_that_says_nothing_times_out_and_releases_the_claim(box, silent_server, settings):
    settings.POSTKAMER_MAIL_TIMEOUT = 0.5
    Mailbox.objects.filter(pk=box.mailbox.pk).update(imap_port=silent_server.port)
    started = time.monotonic()
    outcome = box.fetch()
    assert time.monotonic() - started < 5
    assert outcome.error_code == "timeout"
    box.mailbox.refresh_from_db()
    assert box.mailbox.lease_until is None and box.mailbox.lease_token == ""


# -- claiming and repair --------------------------------------------------------------------


def test_a_repair_while_another_fetch_holds_the_claim_waits_its_turn(box):
    box.deliver(make_message("Een"))
    token = engine.claim(box.mailbox.pk)
    assert token
    Mailbox.objects.filter(pk=box.mailbox.pk).update(repair_since=box.mailbox.sync_since)
    assert not box.fetch().claimed
    assert Message.objects.filter(mailbox=box.mailbox).count() == 0
    engine.release(box.mailbox.pk, token)
    assert box.fetch().new_messages == 1
    box.mailbox.refresh_from_db()
    assert box.mailbox.repair_since is None


def test_a_repair_from_2330_the_evening_before_fetches_to_the_minute(box, dovecot):
    evening = dt.datetime(2026, 11, 25, 23, 30, tzinfo=AMSTERDAM)  # 22:30 UTC
    Mailbox.objects.filter(pk=box.mailbox.pk).update(sync_since=timezone.now())
    box.deliver(make_message("Te vroeg"), internaldate=evening - dt.timedelta(minutes=1))
    box.deliver(make_message("Precies"), internaldate=evening)
    box.deliver(make_message("Na middernacht"), internaldate=evening + dt.timedelta(hours=1))
    box.deliver(make_message("Vandaag"))
    box.fetch()
    assert stored(box) == ["Vandaag"]
    Mailbox.objects.filter(pk=box.mailbox.pk).update(repair_since=evening)
    before = timezone.now()
    outcome = box.fetch()
    assert outcome.new_messages == 2
    assert stored(box) == ["Na middernacht", "Precies", "Vandaag"]
    repaired = Message.objects.filter(mailbox=box.mailbox, repaired=True)
    assert sorted(m.subject for m in repaired) == ["Na middernacht", "Precies"]
    assert all(m.received_at >= before for m in repaired)
    assert box.fetch().new_messages == 0


# -- a worker killed mid-fetch --------------------------------------------------------------

_WORKER = """
import os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["PK_TEST_DB"]
import django
django.setup()
from postkamer.fetching import engine, hooks
from postkamer.mailboxes.models import Mailbox

def pause(point):
    if point == sys.argv[2]:
        sys.stderr.write(point + "\\n")
        sys.stderr.flush()
        time.sleep(60)

hooks.listeners.append(pause)
if len(sys.argv) > 3:  # a queued run, in a registered worker process
    from postkamer.fetching import push
    worker = push.register("killed", "test", os.getpid())
    engine.run_queued(int(sys.argv[3]), worker=worker)
else:
    engine.fetch_mailbox(Mailbox.objects.get(pk=int(sys.argv[1])))
"""


def _start_worker(box, dovecot, point, run_id=None):
    env = dict(os.environ)
    env.update(
        {
            "PK_TEST_DB": str(connection.settings_dict["NAME"]),
            "POSTKAMER_CA_FILE": dovecot.ca_file,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(box.mailbox.pk), point]
        + ([str(run_id)] if run_id else []),
        env=env,
        stderr=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert proc.stderr is not None
    for _ in range(200):
        line = proc.stderr.readline()
        if not line:
            break
        if line.strip().decode() == point:
            return proc
    proc.kill()
    pytest.fail("the worker never reached the pause")


@pytest.mark.parametrize(("pause", "committed"), [("after_batch", 0), ("after_commit", 3)])
def test_a_worker_killed_mid_fetch_loses_and_duplicates_nothing(
    live_box, dovecot, pause, committed
):
    for i in range(3):
        live_box.deliver(make_message(f"Bericht {i}"))
    proc = _start_worker(live_box, dovecot, pause)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    assert Message.objects.filter(mailbox=live_box.mailbox).count() == committed
    # The dead worker's lease still holds, then expires.
    assert not live_box.fetch().claimed
    expire_lease(live_box)
    outcome = live_box.fetch()
    assert outcome.ok
    assert outcome.new_messages == 3 - committed
    assert stored(live_box) == ["Bericht 0", "Bericht 1", "Bericht 2"]


def test_a_worker_process_killed_mid_fetch_holds_its_mailbox_only_until_it_stops_reporting(
    live_box, dovecot, settings, django_capture_on_commit_callbacks
):
    from postkamer.fetching.models import FetchRun, Worker
    from postkamer.fetching.queue import request_fetch

    settings.POSTKAMER_WATCH_LEASE = 1.0
    for i in range(3):
        live_box.deliver(make_message(f"Bericht {i}"))
    run = request_fetch(live_box.mailbox, enqueue=False)
    proc = _start_worker(live_box, dovecot, "after_batch", run.pk)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    worker = Worker.objects.get(name="killed")
    assert FetchRun.objects.get(pk=run.pk).worker_id == worker.pk
    mailbox = Mailbox.objects.get(pk=live_box.mailbox.pk)
    assert mailbox.lease_worker == worker.pk
    # While the worker still counts as live, its lease holds.
    Worker.objects.filter(pk=worker.pk).update(last_seen=timezone.now())
    assert engine.claim(mailbox.pk) is None
    # One watch lease without a report: new mail announced now is fetched at once,
    # though the dead worker's lease has minutes to run.
    time.sleep(1.2)
    assert mailbox.lease_until > timezone.now() + dt.timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        new = request_fetch(mailbox, trigger=FetchRun.Trigger.PUSH)
    assert new.pk != run.pk
    new.refresh_from_db()
    assert new.ok and new.new_messages == 3
    assert FetchRun.objects.get(pk=run.pk).error_code == "abandoned"
    assert stored(live_box) == ["Bericht 0", "Bericht 1", "Bericht 2"]


def test_a_batch_is_not_committed_once_its_lease_is_lost(box):
    state = FolderState.objects.create(
        mailbox=box.mailbox, role="inbox", name="INBOX", uidvalidity=1
    )
    item = store.prepare(
        imapfetch.FetchedMessage(uid=1, raw=make_message("Te laat"), flags=(), internal_date=None)
    )
    token = engine.claim(box.mailbox.pk)
    Mailbox.objects.filter(pk=box.mailbox.pk).update(lease_token="someone-else")
    with pytest.raises(engine.LeaseLost):
        store.store_batch(state, 1, [item], keep=lambda: engine.renew(box.mailbox.pk, token))
    state.refresh_from_db()
    assert state.last_uid == 0 and stored(box) == []
