"""Push under load: many watched mailboxes, new mail at a steady rate, a killed worker.

One command (PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 must run;
run as root so the file limits can be raised):

    .venv/bin/python bench/push_load.py                        # 10,000 mailboxes, 300 s
    .venv/bin/python bench/push_load.py --mailboxes 2000 --seconds 60

It starts a throwaway Dovecot (``tests/servers/dovecot.py``, ports ``--port-base``
+1..3) with one passwd-file user per mailbox and room for the connections
(imap-login in high-performance mode, imap processes serving 200 sessions each),
a fresh PostgreSQL database (``--pg-url``, dropped at the end) and a private Redis
queue, and ``--workers`` ``postkamer worker`` processes. Then, in one run:

1. the mailboxes are created (interval 60 minutes, so no schedule interferes) and
   the workers claim and watch them: time until all are held in IDLE, and the RSS
   of each worker before and after;
2. one message a second is delivered over LMTP to a random mailbox for
   ``--seconds``; a thread looks for each message in the database every 50 ms
   (stored and committed, so listed by the API): time from LMTP's 250 to stored;
3. halfway, one worker is killed with SIGKILL: time until every mailbox is held
   in IDLE again by the others;
4. after the last delivery: every delivered message stored exactly once?

It prints the figures next to the targets (p99 under 5 s; 10,000 watched
mailboxes under 1 GB per process; take-over within 60 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import secrets
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir
from tests.servers.tls import make_test_ca

MB = 1024 * 1024


class LoadDovecot(Dovecot):
    """The test Dovecot with room for tens of thousands of IDLE sessions."""

    def _write_config(self) -> None:
        super()._write_config()
        with open(self.conf_path, "a") as conf:
            conf.write(
                "default_process_limit = 2000\n"
                "default_client_limit = 40000\n"
                "default_vsz_limit = 2G\n"
                "mail_max_userip_connections = 50\n"
                # High-performance mode: a few login processes hold every
                # connection (and its TLS) instead of one process each.
                "service imap-login {\n  service_count = 0\n  process_min_avail = 2\n"
                "  client_limit = 20000\n}\n"
                # One imap process serves many sessions (all users share one uid).
                "service imap {\n  service_count = 0\n  client_limit = 200\n  process_limit = 400\n}\n"
                "service anvil {\n  client_limit = 40000\n}\n"
                "service auth {\n  client_limit = 40000\n}\n"
                "service stats {\n  client_limit = 40000\n}\n"
            )

    def add_users(self, users: dict[str, str]) -> None:
        """Add many users with one passwd-file write and one reload."""
        with self._lock:
            self._users.update(users)
            self._write_passwd()
        self.doveadm("reload")


def rss(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MB."""
    values = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def dovecot_memory(server: Dovecot) -> tuple[int, float]:
    """(processes, total RSS in MB) of the Dovecot master and its descendants."""
    master = server._proc.pid if server._proc else 0
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
                parents[int(entry)] = int(text[text.rindex(")") + 2 :].split()[1])
    family, todo = set(), [master]
    while todo:
        pid = todo.pop()
        family.add(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return len(family), sum(rss(pid)[0] for pid in family)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def setup_django(data_dir: Path, pg_url: str) -> dict[str, str]:
    """Settings for this process and the workers; returns the workers' environment."""
    from postkamer import envconf

    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    envconf.generate_keys(data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTKAMER_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="postkamer.settings",
        POSTKAMER_DATA_DIR=str(data_dir),
        POSTKAMER_ALLOW_PRIVATE_HOSTS="1",
        DATABASE_URL=pg_url,
        REDIS_URL="redis://127.0.0.1:6379/13",
        POSTKAMER_QUEUE_NAME=f"postkamer-bench-{uuid.uuid4().hex}",
        POSTKAMER_WATCHERS="12000",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def pg_admin(pg_url: str, sql: str) -> None:
    import psycopg

    base = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        c.execute(sql)


def create_mailboxes(users: dict[str, str], port: int) -> list[int]:
    from postkamer import crypto
    from postkamer.accounts.models import Tenant
    from postkamer.mailboxes.models import Mailbox

    tenant = Tenant.objects.create(name="Belasting BV")
    boxes = []
    for n, (email, password) in enumerate(users.items()):
        box = Mailbox(
            tenant=tenant,
            name=f"Box {n}",
            sender_address=email,
            imap_host="127.0.0.1",
            imap_port=port,
            imap_security="starttls",
            imap_username=email,
            smtp_host="127.0.0.1",
            interval_minutes=60,
        )
        box.imap_password_enc = crypto.encrypt(password)
        boxes.append(box)
    Mailbox.objects.bulk_create(boxes, batch_size=1000)
    return list(Mailbox.objects.filter(tenant=tenant).values_list("pk", flat=True))


def watched(worker_ids: list[int] | None = None) -> int:
    """Mailboxes held in IDLE right now (by one of ``worker_ids`` when given)."""
    from django.utils import timezone

    from postkamer.fetching.models import Watch

    rows = Watch.objects.filter(state="idle", lease_until__gt=timezone.now())
    if worker_ids is not None:
        rows = rows.filter(worker_id__in=worker_ids)
    return rows.count()


def wait_until(check, seconds: float, step: float = 0.25) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if check():
            return time.monotonic() - began
        time.sleep(step)
    return None


class Watcher(threading.Thread):
    """Looks for delivered messages in the database every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pending: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from postkamer.messages.models import Message

        while not self.stopping.is_set():
            with self.lock:
                subjects = list(self.pending)
            if subjects:
                found = set(
                    Message.objects.filter(subject__in=subjects).values_list("subject", flat=True)
                )
                now = time.monotonic()
                with self.lock:
                    for subject in found:
                        delivered = self.pending.pop(subject, None)
                        if delivered is not None:
                            self.stored[subject] = now - delivered
            time.sleep(0.05)
        connection.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mailboxes", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=300, help="delivery phase (one a second)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-kill", action="store_true", help="do not kill a worker halfway")
    ap.add_argument("--port-base", type=int, default=27300)
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postkamer_bench_push")
    args = ap.parse_args(argv)

    # Each watched mailbox is a socket in a worker and two or three in Dovecot.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (200_000, 200_000))
    tmp = Path(tempfile.mkdtemp(prefix="postkamer-bench-push-"))
    dovecot_dir = make_workdir("postkamer-bench-push-dovecot-")
    tls = make_test_ca(tmp / "tls")
    server = LoadDovecot(dovecot_dir, args.port_base, tls)
    server.start()
    database = args.pg_url.rsplit("/", 1)[1]
    pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg_admin(args.pg_url, f'CREATE DATABASE "{database}"')
    workers: list[subprocess.Popen] = []
    try:
        env = setup_django(tmp / "data", args.pg_url)
        env["POSTKAMER_CA_FILE"] = str(tls.ca_cert)
        users = {f"load{n}@bench.test": secrets.token_urlsafe(9) for n in range(args.mailboxes)}
        server.add_users(users)
        for n in range(args.workers):
            log = (tmp / f"worker{n}.log").open("w")
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "postkamer.cli", "worker"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
        time.sleep(5)
        idle_rss = [rss(w.pid)[0] for w in workers]
        print(f"workers started, RSS {', '.join(f'{r:.0f} MB' for r in idle_rss)}", flush=True)

        began = time.monotonic()
        ids = create_mailboxes(users, server.imap_port)
        print(f"{len(ids)} mailboxes created in {time.monotonic() - began:.1f} s", flush=True)
        began = time.monotonic()
        took = wait_until(lambda: watched() == len(ids), 600, 1.0)
        if took is None:
            print(f"only {watched()} of {len(ids)} watched after 600 s", flush=True)
            return 1
        print(f"all {len(ids)} watched (IDLE) after {took:.1f} s", flush=True)
        time.sleep(5)
        from postkamer.fetching.models import Watch, Worker

        names = dict(Worker.objects.values_list("pid", "pk"))
        held = {w.pid: Watch.objects.filter(worker_id=names.get(w.pid)).count() for w in workers}
        full_rss = {}
        for w in workers:
            now_rss, peak = rss(w.pid)
            full_rss[w.pid] = (now_rss, peak)
            per_k = (now_rss - idle_rss[workers.index(w)]) / max(1, held[w.pid]) * 1000
            print(
                f"worker {w.pid}: {held[w.pid]} watched, RSS {now_rss:.0f} MB (peak {peak:.0f}), "
                f"{per_k:.1f} MB per 1,000 watched above its start",
                flush=True,
            )
        processes, dovecot_rss = dovecot_memory(server)
        print(f"Dovecot: {processes} processes, {dovecot_rss:.0f} MB RSS", flush=True)

        watcher = Watcher()
        watcher.start()
        killed_at = None
        takeover = None
        victim = workers[0]
        victim_id = names.get(victim.pid)
        delivered = 0
        sent_at: dict[str, float] = {}
        start = time.monotonic()
        with smtplib.LMTP("127.0.0.1", server.lmtp_port) as lmtp:
            for second in range(args.seconds):
                at = start + second
                time.sleep(max(0.0, at - time.monotonic()))
                email = random.choice(list(users))
                subject = f"load-{second}-{secrets.token_hex(4)}"
                raw = (
                    f"From: klant@example.test\r\nTo: {email}\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{subject}@bench.test>\r\n\r\nNieuwe e-mail.\r\n"
                ).encode()
                lmtp.sendmail("klant@example.test", [email], raw)
                with watcher.lock:
                    watcher.pending[subject] = time.monotonic()
                    sent_at[subject] = time.monotonic()
                delivered += 1
                if not args.no_kill and second == args.seconds // 2 and len(workers) > 1:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    killed_at = time.monotonic()
                    print(f"killed worker {victim.pid} at {second} s", flush=True)
                if killed_at is not None and takeover is None:
                    others = [pk for pid, pk in names.items() if pid != victim.pid]
                    if watched(others) == len(ids):
                        takeover = time.monotonic() - killed_at
                        print(f"all watched again {takeover:.1f} s after the kill", flush=True)
        if killed_at is not None and takeover is None:
            others = [pk for pid, pk in names.items() if pid != victim.pid]
            extra = wait_until(lambda: watched(others) == len(ids), 120, 0.5)
            if extra is not None:
                takeover = time.monotonic() - killed_at
                print(f"all watched again {takeover:.1f} s after the kill", flush=True)
        wait_until(lambda: not watcher.pending, 120, 0.5)
        watcher.stopping.set()
        watcher.join()

        from django.db.models import Count

        from postkamer.messages.models import Message

        counts = dict(
            Message.objects.filter(subject__startswith="load-")
            .values_list("subject")
            .annotate(n=Count("id"))
            .values_list("subject", "n")
        )
        twice = [s for s, n in counts.items() if n > 1]
        latencies = list(watcher.stored.values())
        print("", flush=True)
        print(
            f"delivered {delivered}, stored {len(counts)}, stored twice {len(twice)}, "
            f"missing {len(watcher.pending)}"
        )
        if latencies:
            print(
                f"delivery to stored: p50 {pct(latencies, 50):.2f} s, p99 {pct(latencies, 99):.2f} s, "
                f"max {max(latencies):.2f} s (target p99 < 5 s: "
                f"{'met' if pct(latencies, 99) < 5 else 'NOT met'})"
            )
            print(f"mean {statistics.mean(latencies):.2f} s over {len(latencies)} messages")
        if killed_at is not None and takeover is not None:
            window = (killed_at, killed_at + takeover)
            steady = [
                took
                for subject, took in watcher.stored.items()
                if not window[0] - 1 <= sent_at[subject] <= window[1]
            ]
            if steady:
                print(
                    f"outside the take-over window ({len(steady)} messages): "
                    f"p50 {pct(steady, 50):.2f} s, p99 {pct(steady, 99):.2f} s, "
                    f"max {max(steady):.2f} s"
                )
        survivor = [w for w in workers if w is not victim or killed_at is None]
        for w in survivor:
            now_rss, peak = rss(w.pid)
            count = Watch.objects.filter(worker_id=names.get(w.pid)).count()
            print(
                f"worker {w.pid} at the end: {count} watched, RSS {now_rss:.0f} MB, "
                f"peak {peak:.0f} MB (target < 1 GB per process for 10,000)"
            )
        if killed_at is not None:
            print(
                f"take-over after SIGKILL: {takeover:.1f} s (target <= 60 s)"
                if takeover is not None
                else "take-over after SIGKILL: not within the run"
            )
        _ = victim_id, full_rss
        return 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        server.close()
        remove_workdir(dovecot_dir)
        with contextlib.suppress(Exception):
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        print(f"logs in {tmp}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
