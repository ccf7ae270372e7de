"""The automatic reply on the real background path: a ``postkamer worker`` process
fetches the mail, the judgement it queues on commit runs from Huey too, and so does
the send task the judgement queues; the reply reaches the test SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.test_redis_queue import _redis_up
from tests.test_worker_end_to_end import _env, _python

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL") is not None, reason="runs on its own SQLite data dir"
)

SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from postkamer.accounts.services import bootstrap
from postkamer.autoreply.actions import do_save_auto_reply
from postkamer.mailboxes.models import Mailbox
admin, _ = bootstrap("Vakantie BV", "compleet", "beheer@vakantie.test", "x-Geheim-123")
box = Mailbox(tenant=admin.tenant, name="Info", sender_address="{email}", imap_host="127.0.0.1",
              imap_port={port}, imap_security="starttls", imap_username="{email}",
              smtp_host="127.0.0.1", smtp_port={smtp_port}, smtp_security="starttls",
              sent_folder="Sent", interval_minutes=None)
box.imap_password = "{password}"
box.save()
do_save_auto_reply(box, admin, {{"enabled": True, "subject": "Afwezig: {{original subject}}",
                                "body_html": "<p>Wij zijn gesloten.</p>"}})
print(box.pk)
"""

QUEUE = """
import django
django.setup()
from django.db import transaction
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox
with transaction.atomic():
    request_fetch(Mailbox.objects.get(pk={box_id}))
"""

CHECK = """
import django
django.setup()
from postkamer.autoreply.models import ReplyDecision
print(sorted((d.recipient, d.state, d.reason, d.subject) for d in ReplyDecision.objects.all()))
"""


@pytest.mark.parametrize("redis", [False, True], ids=["huey-sqlite", "huey-redis"])
def test_a_worker_fetches_decides_and_sends_the_replies(tmp_path, dovecot, smtp_servers, redis):
    if redis and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    email, password = dovecot.new_user()
    smtp_servers.users[email] = password
    first = len(smtp_servers.messages)
    env = _env(tmp_path, dovecot, redis)
    setup = SETUP.format(
        email=email,
        password=password,
        port=dovecot.imap_port,
        smtp_port=smtp_servers.starttls_port,
    )
    box_id = _python(setup, env)
    for n, sender in enumerate(("anna@klant.test", "anna@klant.test", "noreply@bank.test")):
        raw = f"From: {sender}\r\nTo: {email}\r\nSubject: Vraag {n}\r\n\r\nHallo\r\n".encode()
        dovecot.deliver_lmtp(email, raw, sender)
    _python(QUEUE.format(box_id=box_id), env)

    worker = subprocess.Popen(
        [sys.executable, "-m", "postkamer.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    expected = str(
        [
            ("anna@klant.test", "sent", "", "Afwezig: Vraag 0"),
            ("anna@klant.test", "skipped", "recently_replied", ""),
            ("noreply@bank.test", "skipped", "system_sender", ""),
        ]
    )
    try:
        deadline = time.monotonic() + 45
        state = ""
        while time.monotonic() < deadline:
            state = _python(CHECK, env)
            if state == expected:
                break
            time.sleep(0.5)
        assert state == expected
        [reply] = list(smtp_servers.messages)[first:]
        assert (reply.mail_from, reply.rcpt_tos) == ("", ("anna@klant.test",))
        assert b"Auto-Submitted: auto-replied" in reply.raw
    finally:
        worker.send_signal(2)  # SIGINT: Huey's graceful stop
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
