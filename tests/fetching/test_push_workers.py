"""Push with real ``postkamer worker`` processes: one on SQLite (the embedded
default), two on PostgreSQL + Redis sharing the work; the test kills one with
SIGKILL and stops another with SIGTERM. Lease: 3 s, so a take-over is quick."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from postkamer import envconf
from tests.fetching.conftest import make_message
from tests.servers.dovecot import Dovecot
from tests.test_redis_queue import _redis_up

LEASE = 3.0
ON_POSTGRES = os.environ.get("DATABASE_URL") is not None

SETUP = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from postkamer.accounts.services import bootstrap
from postkamer.mailboxes.models import Mailbox
admin, _ = bootstrap("Duw BV", "compleet", "beheer@duw.test", "x-Geheim-123")
ids = []
for n, (email, password) in enumerate(json.loads({users!r})):
    box = Mailbox(tenant=admin.tenant, name=f"Box {{n}}", sender_address=email,
                  imap_host="127.0.0.1", imap_port={port}, imap_security="starttls",
                  imap_username=email, smtp_host="127.0.0.1", interval_minutes=60)
    box.imap_password = password
    box.save()
    ids.append(box.pk)
print(json.dumps(ids))
"""

# Waits in the child (one Django start-up) until every mailbox is held in IDLE,
# by ``workers`` distinct workers when given; prints {mailbox: worker}.
WAIT_WATCHED = """
import json, time, django
django.setup()
from django.utils import timezone
from postkamer.fetching.models import Watch
ids, workers, deadline = {ids!r}, {workers!r}, time.monotonic() + {seconds!r}
while True:
    rows = dict(Watch.objects.filter(pk__in=ids, state="idle", lease_until__gt=timezone.now())
                .values_list("pk", "worker_id"))
    done = len(rows) == len(ids) and (workers is None or len(set(rows.values())) == workers)
    if done or time.monotonic() > deadline:
        break
    time.sleep(0.1)
print(json.dumps({{"done": done, "rows": rows}}))
"""

WAIT_STORED = """
import json, time, django
django.setup()
from postkamer.messages.models import Message
ids, want, deadline = {ids!r}, {want!r}, time.monotonic() + {seconds!r}
while True:
    subjects = {{str(pk): [] for pk in ids}}
    for pk, subject in Message.objects.filter(mailbox_id__in=ids).values_list("mailbox_id", "subject"):
        subjects[str(pk)].append(subject)
    if all(len(s) >= want for s in subjects.values()) or time.monotonic() > deadline:
        break
    time.sleep(0.1)
print(json.dumps(subjects))
"""

LEASES = """
import json, django
django.setup()
from postkamer.fetching.models import Watch
print(json.dumps(list(Watch.objects.filter(pk__in={ids!r}).values_list("worker_id", "lease_until"))))
"""


class Installation:
    """A Postkamer installation in a temp data dir: SQLite, or a fresh PostgreSQL
    database with a private Redis queue."""

    def __init__(self, tmp_path: Path, dovecot: Dovecot, postgres: bool) -> None:
        envconf.generate_keys(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTKAMER_", "DJANGO_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="postkamer.settings",
            POSTKAMER_DATA_DIR=str(tmp_path),
            POSTKAMER_ALLOW_PRIVATE_HOSTS="1",
            POSTKAMER_CA_FILE=str(dovecot.ca_file),
            POSTKAMER_WATCH_LEASE=str(LEASE),
            POSTKAMER_MAIL_TIMEOUT="3",
        )
        for name in ("REDIS_URL", "DATABASE_URL"):
            env.pop(name, None)
        self.database = None
        if postgres:
            self.database = f"postkamer_push_{uuid.uuid4().hex[:12]}"
            self._admin(f'CREATE DATABASE "{self.database}"')
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{self.database}"
            env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
            # Our own queue: other tests (and checkouts) share this Redis database.
            env["POSTKAMER_QUEUE_NAME"] = f"postkamer-test-{uuid.uuid4().hex}"
        self.env = env
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen] = []

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute(sql)

    def python(self, code: str, timeout: float = 90) -> object:
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start_worker(self) -> subprocess.Popen:
        n = len(self.workers)
        log = (self.tmp_path / f"worker{n}.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "postkamer.cli", "worker"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.workers.append(worker)
        return worker

    def log(self, n: int) -> str:
        return (self.tmp_path / f"worker{n}.log").read_text()

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if self.database:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@pytest.fixture
def installation(tmp_path, dovecot):
    if ON_POSTGRES and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    inst = Installation(tmp_path, dovecot, postgres=ON_POSTGRES)
    yield inst
    inst.close()


def _mailboxes(installation: Installation, dovecot: Dovecot, count: int):
    users = [dovecot.new_user() for _ in range(count)]
    ids = installation.python(SETUP.format(users=json.dumps(users), port=dovecot.imap_port))
    return dict(zip(ids, (email for email, _ in users), strict=True))


def _deliver_to_each(dovecot: Dovecot, boxes: dict[int, str], subject: str) -> None:
    for email in boxes.values():
        dovecot.deliver_lmtp(email, make_message(f"{subject} {secrets.token_hex(3)}"), "a@b.test")


def _stop(worker: subprocess.Popen, signum: int) -> int:
    worker.send_signal(signum)
    return worker.wait(timeout=30)


def test_a_worker_process_stores_pushed_mail_and_hands_its_leases_back_on_sigterm(
    installation, dovecot
):
    boxes = _mailboxes(installation, dovecot, 3)
    ids = list(boxes)
    installation.start_worker()
    watched = installation.python(WAIT_WATCHED.format(ids=ids, workers=1, seconds=40))
    assert watched["done"], (watched, installation.log(0))
    assert all(dovecot.idle_sessions(email) == 1 for email in boxes.values())

    _deliver_to_each(dovecot, boxes, "push")
    stored = installation.python(WAIT_STORED.format(ids=ids, want=1, seconds=20))
    assert all(len(subjects) == 1 for subjects in stored.values()), stored

    # The server drops one session: the worker connects again and hears new mail.
    kicked = next(iter(boxes.values()))
    dovecot.kick(kicked)
    for sessions in (0, 1):
        deadline = time.monotonic() + 15
        while dovecot.idle_sessions(kicked) != sessions and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dovecot.idle_sessions(kicked) == sessions, installation.log(0)
    _deliver_to_each(dovecot, boxes, "weer")
    stored = installation.python(WAIT_STORED.format(ids=ids, want=2, seconds=20))
    assert all(len(subjects) == 2 for subjects in stored.values()), stored

    assert _stop(installation.workers[0], signal.SIGTERM) == 0
    # Handed back before the process ended, not left to run out.
    assert installation.python(LEASES.format(ids=ids)) == [[None, None]] * 3
    log = installation.log(0)
    assert "3 leases handed back" in log, log


@pytest.mark.skipif(not ON_POSTGRES, reason="two workers share the work on PostgreSQL + Redis")
def test_two_workers_never_watch_one_mailbox_and_a_killed_ones_move_to_the_other(
    installation, dovecot
):
    boxes = _mailboxes(installation, dovecot, 6)
    ids = list(boxes)
    first, second = installation.start_worker(), installation.start_worker()
    watched = installation.python(WAIT_WATCHED.format(ids=ids, workers=2, seconds=60))
    assert watched["done"], (watched, installation.log(0), installation.log(1))

    # The server's own view, sampled for a few seconds: one IDLE session per mailbox.
    for _ in range(10):
        counts = [dovecot.idle_sessions(email) for email in boxes.values()]
        assert max(counts) <= 1, counts
        time.sleep(0.3)
    assert counts == [1] * 6

    _deliver_to_each(dovecot, boxes, "voor")
    stored = installation.python(WAIT_STORED.format(ids=ids, want=1, seconds=20))
    assert all(len(subjects) == 1 for subjects in stored.values()), stored

    killed_at = time.monotonic()
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Delivered while the killed worker's mailboxes wait for their leases to run out.
    _deliver_to_each(dovecot, boxes, "tijdens")
    watched = installation.python(WAIT_WATCHED.format(ids=ids, workers=1, seconds=30))
    took = time.monotonic() - killed_at
    assert watched["done"], (watched, installation.log(1))
    assert took < 3 * LEASE + 6, took  # the lease, a round, the login, the check itself
    assert all(dovecot.idle_sessions(email) == 1 for email in boxes.values())

    _deliver_to_each(dovecot, boxes, "na")
    stored = installation.python(WAIT_STORED.format(ids=ids, want=3, seconds=30))
    # Every message stored, and none twice.
    for subjects in stored.values():
        assert len(subjects) == 3 and len(set(subjects)) == 3, stored
        assert sorted(s.split()[0] for s in subjects) == ["na", "tijdens", "voor"], stored

    assert _stop(second, signal.SIGTERM) == 0
    assert installation.python(LEASES.format(ids=ids)) == [[None, None]] * 6
