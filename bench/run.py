"""Fetch benchmark: raw IMAP limit vs mbsync vs Postkamer's initial sync, polling,
incremental pick-up and peak memory, against a throwaway Dovecot.

Usage: ``python bench/run.py [--count 10000] [--pollers 1000] [--skip-mbsync]``
(see bench/README.md). Everything runs in temp directories that are removed at
the end; nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import generate  # noqa: E402
from bench.pgserver import PrivatePostgres  # noqa: E402
from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir  # noqa: E402
from tests.servers.tls import make_test_ca  # noqa: E402

MB = 1_000_000


class BenchDovecot(Dovecot):
    """The test Dovecot with room for a thousand kept-open IMAP sessions."""

    def _write_config(self) -> None:
        super()._write_config()
        with open(self.conf_path, "a") as conf:
            conf.write(
                "default_process_limit = 1500\n"
                "default_client_limit = 6000\n"
                "service imap {\n  process_limit = 1500\n}\n"
                "service anvil {\n  client_limit = 6000\n}\n"
            )

    def add_users(self, users: dict[str, str]) -> None:
        """Add many users with one passwd-file write and one reload."""
        with self._lock:
            self._users.update(users)
            self._write_passwd()
        self.doveadm("reload")


def _line(label: str, seconds: float, size: int | None = None) -> None:
    rate = f"  {size / MB / seconds:8.1f} MB/s" if size else ""
    print(f"{label:<44} {seconds:8.3f} s{rate}", flush=True)


# -- (a) the raw limit --------------------------------------------------------------------


def _processes() -> tuple[dict[int, list[int]], dict[int, float]]:
    """Read /proc: ({parent pid: child pids}, {pid: CPU seconds, user + system})."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    return children, cpu


def tree_cpu(master: int | None) -> float:
    """CPU seconds (user + system) used so far by the live process ``master`` and
    every descendant of it."""
    children, cpu = _processes()
    total, todo = 0.0, [master] if master else []
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def server_cpu(server: Dovecot) -> float:
    """CPU seconds used so far by the live processes of ``server`` (its master and
    every descendant, such as the imap process serving us)."""
    return tree_cpu(server._proc.pid if server._proc else None)


def disk_written() -> int:
    """Bytes written to the machine's disks so far (all processes: with other work
    on the machine this counts theirs too)."""
    total = 0
    for device in os.listdir("/sys/block"):
        if device.startswith(("loop", "ram", "zram", "dm-", "md")):
            continue
        try:
            with open(f"/sys/block/{device}/stat") as f:
                total += int(f.read().split()[6]) * 512
        except (OSError, IndexError, ValueError):
            continue
    return total


def process_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def raw_fetch(
    port: int, user: str, password: str, server: Dovecot | None = None
) -> tuple[float, int, float]:
    """One plain socket: LOGIN, EXAMINE, ``UID FETCH 1:* BODY.PEEK[]``, discard.
    Returns (seconds, bytes read, CPU seconds of the server and this process
    during the FETCH; 0 without ``server``)."""
    sock = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(1 << 20)
    view = memoryview(buf)

    def until(marker: bytes) -> int:
        total = 0
        tail = b""
        while True:
            n = sock.recv_into(view)
            if not n:
                raise RuntimeError("server closed the connection")
            total += n
            tail = (tail + bytes(view[:n]))[-4096:]
            if marker in tail:
                return total

    until(b"\r\n")
    sock.sendall(f'a LOGIN "{user}" "{password}"\r\n'.encode())
    until(b"a OK")
    sock.sendall(b"b EXAMINE INBOX\r\n")
    until(b"b OK")
    cpu = (server_cpu(server) + sum(process_cpu())) if server else 0.0
    started = time.perf_counter()
    sock.sendall(b"c UID FETCH 1:* BODY.PEEK[]\r\n")
    total = until(b"\r\nc OK")
    seconds = time.perf_counter() - started
    # Before LOGOUT: the server's imap process still lives and counts.
    if server:
        cpu = server_cpu(server) + sum(process_cpu()) - cpu
    sock.sendall(b"d LOGOUT\r\n")
    sock.close()
    return seconds, total, cpu


# -- (b) mbsync -------------------------------------------------------------------------------


def mbsync(port: int, user: str, password: str, workdir: Path) -> float:
    """Pull INBOX into a fresh Maildir with isync's mbsync; returns seconds."""
    maildir = workdir / "maildir"
    maildir.mkdir()
    rc = workdir / "mbsyncrc"
    rc.write_text(
        f"""IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""
    )
    started = time.perf_counter()
    res = subprocess.run(
        ["mbsync", "-q", "-c", str(rc), "bench"], capture_output=True, text=True, timeout=3600
    )
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(f"mbsync failed: {res.stderr}")
    files = sum(1 for _ in (maildir / "INBOX" / "new").iterdir()) + sum(
        1 for _ in (maildir / "INBOX" / "cur").iterdir()
    )
    print(f"  mbsync stored {files} files", flush=True)
    return seconds


# -- Postkamer ----------------------------------------------------------------------------------


def setup_django(data_dir: Path, raw_store: str = "pack", database_url: str | None = None) -> None:
    """Configure Django on a fresh SQLite database in ``data_dir`` (or on the
    empty PostgreSQL database ``database_url``) and migrate."""
    os.environ["POSTKAMER_DATA_DIR"] = str(data_dir)
    os.environ["POSTKAMER_RAW_STORE"] = raw_store
    os.environ["POSTKAMER_ALLOW_PRIVATE_HOSTS"] = "1"
    os.environ["POSTKAMER_HUEY_IMMEDIATE"] = "1"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "postkamer.settings"
    # What `postkamer bootstrap` does first: the data dir and its keys.
    from postkamer import envconf

    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    envconf.generate_keys(data_dir)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import logging

    # IMAPClient logs every connect/close at INFO: noise across 1,000 mailboxes.
    logging.getLogger("imapclient").setLevel(logging.WARNING)


def make_mailbox(tenant, port: int, user: str, password: str):
    """A plain-IMAP (loopback) mailbox synchronising from a day ago."""
    from django.utils import timezone

    from postkamer.mailboxes.models import Mailbox

    box = Mailbox(
        tenant=tenant,
        name=user,
        sender_address=user,
        imap_host="127.0.0.1",
        imap_port=port,
        imap_security="none",
        allow_insecure=True,
        imap_username=user,
        sync_since=timezone.now() - dt.timedelta(days=1),
    )
    box.imap_password = password
    box.save()
    return box


def profiled(enabled: bool, fn, *args):
    """Call ``fn(*args)``; with ``enabled``, under cProfile, printing the top entries."""
    if not enabled:
        return fn(*args)
    import cProfile
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(fn, *args)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return result


def reset_raw_store() -> None:
    """Forget earlier (c) runs: delete their mailboxes, raw rows and pack files, and
    checkpoint SQLite's WAL, so each store starts from the same empty state."""
    from django.conf import settings
    from django.db import connection

    from postkamer.mailboxes.models import Mailbox
    from postkamer.messages.models import RawMessage

    Mailbox.objects.all().delete()
    RawMessage.objects.all().delete()
    shutil.rmtree(Path(settings.DATA_DIR) / "mail", ignore_errors=True)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("VACUUM")


def postkamer_initial(
    box, server: Dovecot | int, profile: bool = False
) -> tuple[float, int, tuple[float, float, float]]:
    """Initial sync of ``box`` through the engine; returns (seconds, messages,
    (server CPU, our user CPU, our system CPU) in seconds). ``server`` is the
    Dovecot or the pid of its master process."""
    from postkamer.fetching import engine

    master = server if isinstance(server, int) else (server._proc.pid if server._proc else None)
    served, (user, system) = tree_cpu(master), process_cpu()
    started = time.perf_counter()
    outcome = profiled(profile, engine.fetch_mailbox, box)
    seconds = time.perf_counter() - started
    # The connection stays in the pool, so its imap process still counts.
    served = tree_cpu(master) - served
    user_after, system_after = process_cpu()
    if not outcome.ok:
        raise RuntimeError(f"Postkamer fetch failed: {outcome.error!r}")
    return seconds, outcome.new_messages, (served, user_after - user, system_after - system)


def work_floor(corpus: list[bytes], workdir: Path) -> tuple[float, float, float]:
    """CPU seconds of the work every initial sync must do to the corpus in this
    process, each measured alone: SHA-256 of the raw bytes (which content-addresses
    them), MIME parsing (which yields the parsed fields), and inserting the bare
    rows (subject, text, HTML) with plain ``sqlite3`` into a fresh WAL database,
    200 per transaction. Neither raw bytes nor Django are involved."""
    import hashlib
    import sqlite3

    from postkamer.mail.mime import parse_message

    started = time.process_time()
    for raw in corpus:
        hashlib.sha256(raw).digest()
    hashed = time.process_time() - started
    started = time.process_time()
    parsed = [parse_message(raw) for raw in corpus]
    parsing = time.process_time() - started
    rows = [(p.subject or "", p.text or "", p.html or "") for p in parsed]
    del parsed
    db = sqlite3.connect(workdir / "floor.sqlite3", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, subject TEXT, text TEXT, html TEXT)")
        started = time.process_time()
        for i in range(0, len(rows), 200):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO m (subject, text, html) VALUES (?, ?, ?)", rows[i : i + 200]
            )
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        inserting = time.process_time() - started
    finally:
        db.close()
    return hashed, parsing, inserting


# -- (c) on PostgreSQL ---------------------------------------------------------------------

#: Process titles of a PostgreSQL server's own background processes (shared by
#: every database on the server), after the last ": " of the title.
_PG_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum",
    "logical replication",
    "archiver",
    "stats",
    "walsummarizer",
)


def postgres_cpu(backend: int) -> tuple[float, float]:
    """CPU seconds so far of the PostgreSQL backend process ``backend`` and of its
    server's postmaster and background processes (WAL writer, checkpointer, …,
    which also work for every other database on that server). Other clients'
    backends are left out; so are processes that ended in between (an
    autovacuum worker)."""
    children, cpu = _processes()
    with open(f"/proc/{backend}/stat") as f:
        stat = f.read()
    postmaster = int(stat[stat.rindex(")") + 2 :].split()[1])
    background = cpu.get(postmaster, 0.0)
    for pid in children.get(postmaster, []):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # "postgres: 15/main: checkpointer" or "postgres: 15/main: user db host idle"
        role = title.rsplit(": ", 1)[-1].strip()
        if role.startswith(_PG_BACKGROUND) or role == f"parallel worker for PID {backend}":
            background += cpu.get(pid, 0.0)
    return cpu.get(backend, 0.0), background


def postgres_child(spec: dict) -> None:
    """(c) on PostgreSQL with the ``database`` raw store, as a deployment with
    ``DATABASE_URL`` runs it; in a child process of its own because Django's
    default database is fixed at set-up. Writes its figures to ``spec["result"]``."""
    setup_django(Path(spec["data_dir"]), "database", spec["database_url"])
    from django.db import connection

    from postkamer.accounts.models import Tenant
    from postkamer.messages.models import RawMessage

    tenant = Tenant.objects.create(name="Bench")
    box = make_mailbox(tenant, spec["port"], spec["user"], spec["password"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid(), current_setting('synchronous_commit'), "
            "current_setting('fsync'), current_setting('wal_sync_method'), "
            "current_setting('full_page_writes'), pg_current_wal_lsn()::text"
        )
        backend, synchronous_commit, fsync, wal_sync, fpw, lsn = cursor.fetchone()
    # In a deployment the search index is built by whichever worker takes the task
    # queued after each batch, beside the fetch; here it is built after the sync and
    # timed on its own, so both figures are seen.
    from postkamer.messages import search
    from postkamer.messages.signals import messages_stored

    messages_stored.disconnect(dispatch_uid="mailmessages-search-index")
    backend_cpu, background_cpu = postgres_cpu(backend)
    disk = disk_written()
    seconds, stored, (served, user_cpu, system_cpu) = postkamer_initial(
        box, spec["dovecot_pid"], spec["profile"]
    )
    disk = disk_written() - disk
    backend_after, background_after = postgres_cpu(backend)
    started = time.perf_counter()
    indexed = search.index_pending()
    index_seconds = time.perf_counter() - started
    index_backend = postgres_cpu(backend)[0] - backend_after
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn), "
            "pg_total_relation_size(%s), pg_database_size(current_database())",
            [lsn, RawMessage._meta.db_table],
        )
        wal, raw_table, database = cursor.fetchone()
    Path(spec["result"]).write_text(
        json.dumps(
            {
                "seconds": seconds,
                "stored": stored,
                "indexed": indexed,
                "index_seconds": index_seconds,
                "index_backend": index_backend,
                "dovecot": served,
                "user": user_cpu,
                "system": system_cpu,
                "backend": backend_after - backend_cpu,
                "background": background_after - background_cpu,
                "settings": (
                    f"synchronous_commit={synchronous_commit}, fsync={fsync}, "
                    f"wal_sync_method={wal_sync}, full_page_writes={fpw}"
                ),
                "wal": int(wal),
                "disk": disk,
                "raw_table": int(raw_table),
                "database": int(database),
            }
        )
    )


def postgres_initial(
    url: str, server: Dovecot, user: str, password: str, workdir: Path, profile: bool
) -> dict:
    """Run :func:`postgres_child` on a throwaway database ``postkamer_bench_<pid>``
    created on the server of ``url`` (through its ``postgres`` database; the
    database named in ``url`` is not used) and return its figures."""
    import psycopg

    name = f"postkamer_bench_{os.getpid()}"
    parts = urlsplit(url)
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    admin = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        spec = {
            "database_url": database_url,
            "data_dir": str(workdir / "pg-data"),
            "port": server.imap_port,
            "user": user,
            "password": password,
            "dovecot_pid": server._proc.pid if server._proc else None,
            "profile": profile,
            "result": str(workdir / "pg-result.json"),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTKAMER_"))}
        subprocess.run(
            [sys.executable, __file__, "--postgres-child", json.dumps(spec)],
            check=True,
            env=env,
            timeout=3600,
        )
        return json.loads(Path(spec["result"]).read_text())
    finally:
        with contextlib.suppress(psycopg.Error):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def deliver_by_lmtp(port: int, users: list[str], message: bytes, attempts: int = 5) -> None:
    """Deliver ``message`` once to each of ``users`` over LMTP.

    Adding users ends with ``doveadm reload``, which restarts Dovecot's services and
    can reset a connection opened just then: reconnect and go on with the users not
    yet delivered to (never twice to one user).
    """
    pending = list(users)
    for attempt in range(attempts):
        try:
            lmtp = smtplib.LMTP("127.0.0.1", port)
            while pending:
                lmtp.sendmail("bench@example.test", [pending[0]], message)
                pending.pop(0)
            lmtp.quit()
            return
        except (ConnectionResetError, smtplib.SMTPServerDisconnected):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def polling(server: BenchDovecot, tenant, count: int, profile: bool = False) -> None:
    """(d) Poll ``count`` unchanged, already synced mailboxes with the kept-open pool."""
    from postkamer.fetching import engine

    users = {f"poll{i:05d}@example.test": f"pw-{i}" for i in range(count)}
    server.add_users(users)
    message = b"Subject: een\r\nMessage-ID: <poll@example.test>\r\n\r\nhallo\r\n"
    deliver_by_lmtp(server.lmtp_port, list(users), message)
    boxes = [make_mailbox(tenant, server.imap_port, u, p) for u, p in users.items()]
    started = time.perf_counter()
    for box in boxes:
        outcome = engine.fetch_mailbox(box)
        assert outcome.ok and outcome.new_messages == 1, outcome.error
    _line(f"(d) first sync of {count} one-message mailboxes", time.perf_counter() - started)
    for box in boxes:
        box.refresh_from_db()

    def poll_all() -> None:
        for box in boxes:
            outcome = engine.fetch_mailbox(box)
            assert outcome.ok and outcome.new_messages == 0, outcome.error

    started = time.perf_counter()
    profiled(profile, poll_all)
    seconds = time.perf_counter() - started
    _line(f"(d) poll {count} unchanged mailboxes (pool)", seconds)
    print(
        f"    {count / seconds:.0f} mailboxes/s, {seconds / count * 1000:.2f} ms each "
        f"(target: 1,000 in < 5 s)",
        flush=True,
    )
    engine.pool.clear()


def incremental(server: BenchDovecot, box, user: str, profile: bool = False) -> None:
    """(e) 50 new messages picked up on a warm connection."""
    from postkamer.fetching import engine

    new = list(generate(50, seed=7, scale=0.1))
    server.deliver_many(user, new)
    box.refresh_from_db()
    started = time.perf_counter()
    outcome = profiled(profile, engine.fetch_mailbox, box)
    seconds = time.perf_counter() - started
    assert outcome.ok and outcome.new_messages == 50, outcome
    _line(f"(e) 50 new messages ({sum(map(len, new)) / MB:.1f} MB), warm", seconds)
    print("    target: < 0.2 s", flush=True)


def memory(server: BenchDovecot, tenant) -> None:
    """(f) Peak Python memory above idle while fetching one 30 MB message."""
    import base64

    from postkamer.fetching import engine

    user, password = server.new_user()
    payload = base64.encodebytes(os.urandom(22 * MB)).replace(b"\n", b"\r\n")
    raw = (
        b"From: a@example.test\r\nSubject: groot\r\nMessage-ID: <groot@example.test>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
        b"--b\r\nContent-Type: application/pdf; name=groot.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"\r\n--b--\r\n"
    )
    server.deliver(user, raw)
    size = len(raw)
    del payload, raw
    box = make_mailbox(tenant, server.imap_port, user, password)
    tracemalloc.start()
    idle = tracemalloc.get_traced_memory()[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = engine.fetch_mailbox(box)
    peak = tracemalloc.get_traced_memory()[1] - idle
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert outcome.ok and outcome.new_messages == 1, outcome
    print(
        f"(f) one {size / MB:.1f} MB message: Python peak {peak / MB:.1f} MB above idle "
        f"= {peak / size:.2f}x the message (target < 4x); "
        f"ru_maxrss grew {(rss_after - rss_before) / 1000:.1f} MB",
        flush=True,
    )


def sqlite_initial(
    box,
    server: Dovecot,
    kind: str,
    size: int,
    raw_seconds: float,
    mbsync_seconds: float | None,
    args: argparse.Namespace,
) -> float:
    """(c) on SQLite with the raw store ``kind``; prints the figures, returns seconds."""
    disk = disk_written()
    seconds, stored, (served, user_cpu, system_cpu) = postkamer_initial(box, server, args.profile)
    disk = disk_written() - disk
    _line(f"(c) Postkamer initial sync, {kind} store ({stored} stored)", seconds, size)
    print(f"    {seconds / raw_seconds:.2f}x the raw time (target <= 2x)", flush=True)
    print(
        f"    {served + user_cpu + system_cpu:.2f} CPU-s: Dovecot {served:.2f}, "
        f"Postkamer {user_cpu:.2f} user + {system_cpu:.2f} system; "
        f"{disk / MB:.0f} MB written to disk (whole machine)",
        flush=True,
    )
    if mbsync_seconds:
        print(
            f"    {seconds / mbsync_seconds:.2f}x mbsync's time "
            f"({'faster' if seconds < mbsync_seconds else 'slower'} than mbsync)",
            flush=True,
        )
    return seconds


def print_postgres(
    pg: dict, size: int, raw_seconds: float, pack: float | None, private: bool
) -> None:
    """Print the figures of one (c) run on PostgreSQL."""
    _line(f"(c) Postkamer initial sync, PostgreSQL ({pg['stored']} stored)", pg["seconds"], size)
    print(f"    {pg['seconds'] / raw_seconds:.2f}x the raw time", flush=True)
    if pack:
        print(
            f"    {pg['seconds'] / pack:.2f}x the SQLite pack store's time (target <= 1.5x)",
            flush=True,
        )
    both = pg["seconds"] + pg["index_seconds"]
    print(
        f"    then the search index of {pg['indexed']} messages: {pg['index_seconds']:.2f} s "
        f"(backend {pg['index_backend']:.2f} CPU-s); stored and indexed one after the other: "
        f"{both:.2f} s" + (f", {both / pack:.2f}x the pack store's time" if pack else ""),
        flush=True,
    )
    total = pg["dovecot"] + pg["user"] + pg["system"] + pg["backend"] + pg["background"]
    print(
        f"    {total:.2f} CPU-s: Dovecot {pg['dovecot']:.2f}, Postkamer {pg['user']:.2f} "
        f"user + {pg['system']:.2f} system, PostgreSQL backend {pg['backend']:.2f} "
        f"+ background {pg['background']:.2f}{'' if private else ' (shared with other databases)'}\n"
        f"    {pg['settings']}\n"
        f"    WAL {pg['wal'] / MB:.0f} MB (whole server), raw table "
        f"{pg['raw_table'] / MB:.0f} MB, database {pg['database'] / MB:.0f} MB; "
        f"{pg['disk'] / MB:.0f} MB written to disk (whole machine)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000, help="corpus messages (default 10000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pollers", type=int, default=1000, help="mailboxes for the polling test")
    ap.add_argument("--skip-mbsync", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    # Below the ephemeral range (32768-60999 on Linux): an outgoing connection
    # can never hold one of these ports when Dovecot starts listening.
    ap.add_argument("--port-base", type=int, default=29200)
    ap.add_argument("--profile", action="store_true", help="cProfile (c), (d) and (e)")
    ap.add_argument(
        "--raw-store",
        choices=["pack", "database", "both"],
        default="both",
        help="raw store for (c): pack, database, or both (database first; (d)-(f) use the last)",
    )
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="also run (c) on PostgreSQL with the database raw store: 'private' for a "
        "throwaway cluster of its own (stock settings, port --port-base+4), or the URL of "
        "a server to create a throwaway database on "
        "(e.g. postgres://postgres@127.0.0.1:5432/)",
    )
    ap.add_argument(
        "--postgres-config",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for --postgres private (repeatable), e.g. wal_buffers=64MB",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run (c) this many times, the stores in turn, and compare the best of each",
    )
    ap.add_argument("--postgres-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.postgres_child:
        postgres_child(json.loads(args.postgres_child))
        return 0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    tmp = Path(tempfile.mkdtemp(prefix="postkamer-bench-"))
    dovecot_dir = make_workdir("postkamer-bench-dovecot-")
    server = BenchDovecot(dovecot_dir, args.port_base, make_test_ca(tmp / "tls"))
    server.start()
    private = None
    try:
        if args.postgres == "private":
            private = PrivatePostgres(args.port_base + 4, args.postgres_config)
            private.start()
            args.postgres = private.url
        user, password = server.new_user()
        t = time.perf_counter()
        corpus = list(generate(args.count, seed=args.seed))
        size = sum(map(len, corpus))
        print(
            f"corpus: {len(corpus)} messages, {size / MB:.1f} MB "
            f"(generated in {time.perf_counter() - t:.1f} s)",
            flush=True,
        )
        t = time.perf_counter()
        server.deliver_many(user, corpus)
        print(f"delivered in {time.perf_counter() - t:.1f} s", flush=True)

        raw_seconds, raw_bytes, raw_cpu = min(
            raw_fetch(server.imap_port, user, password, server) for _ in range(2)
        )
        _line("(a) raw limit: UID FETCH 1:* BODY.PEEK[]", raw_seconds, raw_bytes)
        print(f"    {raw_cpu:.2f} CPU-s (Dovecot sending, one socket reading)", flush=True)

        mbsync_seconds = None
        if not args.skip_mbsync:
            mbsync_seconds = mbsync(server.imap_port, user, password, tmp)
            _line("(b) mbsync into a Maildir", mbsync_seconds, size)

        stores = ["database", "pack"] if args.raw_store == "both" else [args.raw_store]
        setup_django(tmp / "data", stores[0])
        from django.conf import settings

        from postkamer.accounts.models import Tenant

        tenant = Tenant.objects.create(name="Bench")
        times: dict[str, list[float]] = {}
        for number in range(args.rounds):
            if args.rounds > 1:
                print(f"-- round {number + 1} of {args.rounds}", flush=True)
            for kind in stores:
                # The setting is read per batch, so one Django setup serves both
                # stores; each gets a mailbox of its own (the corpus is shared on
                # the server, the rows and bytes are not: the raw rows are deleted
                # first).
                settings.POSTKAMER_RAW_STORE = kind
                reset_raw_store()
                box = make_mailbox(tenant, server.imap_port, user, password)
                seconds = sqlite_initial(box, server, kind, size, raw_seconds, mbsync_seconds, args)
                times.setdefault(kind, []).append(seconds)
            if args.postgres:
                pg = postgres_initial(args.postgres, server, user, password, tmp, args.profile)
                pack = times["pack"][-1] if "pack" in times else None
                print_postgres(pg, size, raw_seconds, pack, private is not None)
                times.setdefault("postgres", []).append(pg["seconds"])
        if args.rounds > 1:
            best = {kind: min(values) for kind, values in times.items()}
            print(
                "(c) best of each: "
                + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in best.items()),
                flush=True,
            )
            if "postgres" in best and "pack" in best:
                ratios = [pg / pack for pg, pack in zip(times["postgres"], times["pack"])]
                print(
                    f"    PostgreSQL / pack store: {best['postgres'] / best['pack']:.2f}x "
                    f"(best against best; per round {', '.join(f'{r:.2f}' for r in ratios)})",
                    flush=True,
                )
        # After the syncs, so that its garbage cannot slow them down.
        floor_sha, floor_parse, floor_rows = work_floor(corpus, tmp)
        del corpus
        cores = len(os.sched_getaffinity(0))
        budget = 2 * raw_seconds * cores
        floor = raw_cpu + floor_sha + floor_parse + floor_rows
        print(
            f"(g) CPU budget of 2x the raw time on {cores} cores: {budget:.2f} CPU-s\n"
            f"    floor of the work, each part alone: raw limit {raw_cpu:.2f} + SHA-256 "
            f"{floor_sha:.2f} + MIME parsing {floor_parse:.2f} + bare SQLite rows "
            f"{floor_rows:.2f} = {floor:.2f} CPU-s ({floor / budget:.0%} of the budget; "
            "writing the raw bytes not counted)",
            flush=True,
        )
        incremental(server, box, user, args.profile)
        if args.pollers:
            polling(server, tenant, args.pollers, args.profile)
        if not args.skip_memory:
            memory(server, tenant)
    finally:
        with contextlib.suppress(Exception):
            from postkamer.fetching import engine

            engine.pool.clear()
        server.close()
        if private:
            private.close()
        remove_workdir(dovecot_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
