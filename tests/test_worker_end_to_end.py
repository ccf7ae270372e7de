"""The real background path: a queued fetch is picked up by a separate
``postkamer worker`` process, from Huey on SQLite (embedded) or on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from postkamer import envconf
from tests.test_redis_queue import _redis_up

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL") is not None, reason="runs on its own SQLite data dir"
)

SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from postkamer.accounts.services import bootstrap
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox
admin, _ = bootstrap("Werker BV", "compleet", "beheer@werker.test", "x-Geheim-123")
box = Mailbox(tenant=admin.tenant, name="Info", sender_address="{email}", imap_host="127.0.0.1",
              imap_port={port}, imap_security="starttls", imap_username="{email}",
              smtp_host="127.0.0.1", interval_minutes=None)
box.imap_password = "{password}"
box.sync_since = box.sync_since.replace(year=2000)
box.save()
from django.db import transaction
with transaction.atomic():
    run = request_fetch(box)
print(run.pk, box.pk)
"""

CHECK = """
import django
django.setup()
from postkamer.fetching.models import FetchRun
run = FetchRun.objects.get(pk={run_id})
print(run.finished_at is not None, run.ok, run.new_messages, run.error)
"""


def _env(tmp_path, dovecot, redis: bool) -> dict[str, str]:
    envconf.generate_keys(tmp_path)  # what `postkamer bootstrap` does on a new data dir
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTKAMER_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="postkamer.settings",
        POSTKAMER_DATA_DIR=str(tmp_path),
        POSTKAMER_ALLOW_PRIVATE_HOSTS="1",
        POSTKAMER_CA_FILE=str(dovecot.ca_file),
    )
    env.pop("REDIS_URL", None)
    if redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
        # Our own queue: other tests (and checkouts) share this Redis database.
        env["POSTKAMER_QUEUE_NAME"] = f"postkamer-test-{uuid.uuid4().hex}"
    return env


def _python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("redis", [False, True], ids=["huey-sqlite", "huey-redis"])
def test_a_worker_process_runs_the_queued_fetch(tmp_path, dovecot, redis):
    if redis and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    email, password = dovecot.new_user()
    for n in range(3):
        dovecot.deliver(
            email, b"Subject: bericht %d\r\nMessage-ID: <w%d@x>\r\n\r\nhoi\r\n" % (n, n)
        )
    env = _env(tmp_path, dovecot, redis)
    setup = SETUP.format(email=email, password=password, port=dovecot.imap_port)
    run_id, box_id = _python(setup, env).split()

    worker = subprocess.Popen(
        [sys.executable, "-m", "postkamer.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 45
        state = ""
        while time.monotonic() < deadline:
            state = _python(CHECK.format(run_id=run_id), env)
            if state.startswith("True"):
                break
            time.sleep(0.5)
        assert state.split() == ["True", "True", "3"], state
    finally:
        worker.send_signal(2)  # SIGINT: Huey's graceful stop
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    # The log says what happened: the fetch, not the empty periodic dispatch
    # (which ran when the worker started).
    log = worker.stderr.read()
    assert f"fetched mailbox {box_id} (run {run_id}): 3 new" in log, log
    assert "periodic task" not in log and "dispatch_due_fetches:" not in log, log
