"""Reading a big mailbox: the list page, search and downloads at 100,000 messages.

    .venv/bin/python bench/bench_reading.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/bench_reading.py --databases sqlite --messages 20000

For each database a child process migrates a fresh database (SQLite in a temp data
dir; PostgreSQL ``--pg-url``, dropped and created), stores ``--messages`` generated
messages in one mailbox through the fetch store (``fetching.store``: the same bulk
INSERT and search triggers as a real fetch; on PostgreSQL the search index is then
built as the worker's task does, and timed), marks 30 % of them
read for the user, then times ``--requests`` requests per scenario through Django's
test client (the whole server side: middleware, views, templates, queries) and
prints p50/p95 next to the 100 ms limit, with the number of queries of one request
and the CPU time of the benchmark's own process (on SQLite that includes the
database's work; it shows what a busy machine adds to the wall-clock figures).

Then the memory of a download: a message with a 10 MB attachment (random bytes,
base64 on the wire) in each raw store; peak Python memory (tracemalloc) and peak
RSS above the level before (``/proc/self/clear_refs``) while the attachment is
streamed, against the limit of twice the attachment.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MS = 100.0
ATTACHMENT_BYTES = 10 * 1024 * 1024

COMMON = [
    "polis", "offerte", "schade", "hypotheek", "verzekering", "klant", "premie", "auto",
    "woonhuis", "inboedel", "aanvraag", "document", "vraag", "afspraak", "rente", "contract",
    "betaling", "factuur", "adres", "wijziging", "opzegging", "reis", "aansprakelijkheid",
    "rechtsbijstand", "taxatie", "notaris", "bank", "advies", "gesprek", "termijn",
]  # fmt: skip
FILLER = ["de", "het", "een", "en", "van", "voor", "met", "op", "is", "u", "wij", "graag"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    syllables = ["ka", "ver", "mo", "den", "lo", "sie", "tra", "pen", "bo", "rij", "gel", "stu"]
    words = list(COMMON)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _zipf_pick(rng: random.Random, words: list[str]) -> str:
    # Rank r drawn with weight ~1/r: a few words everywhere, most words rare.
    return words[min(int(rng.paretovariate(1.0)) - 1, len(words) - 1)]


def _message(rng: random.Random, words: list[str], i: int) -> bytes:
    subject = " ".join(_zipf_pick(rng, words) for _ in range(rng.randint(2, 6))).capitalize()
    body = " ".join(
        rng.choice(FILLER) if rng.random() < 0.4 else _zipf_pick(rng, words)
        for _ in range(rng.randint(40, 160))
    )
    sender = f"klant{rng.randint(1, 800)}"
    head = (
        f"From: Klant {sender.title()} <{sender}@voorbeeld{rng.randint(1, 40)}.test>\r\n"
        f"To: Info <info@kantoor.test>\r\nSubject: {subject}\r\n"
        f"Message-ID: <bench{i}@voorbeeld.test>\r\nMIME-Version: 1.0\r\n"
    )
    if rng.random() < 0.1:
        return (
            head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f'{body}\r\n--b\r\nContent-Type: application/pdf; name="polis{i}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        ).encode()
    return (head + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


# -- the child: one database -----------------------------------------------------------


def _setup_django(database: str, pg_url: str, keep: bool = False) -> None:
    data_dir = tempfile.mkdtemp(prefix="postkamer-bench-reading-")
    if keep:
        print(f"keeping the data dir {data_dir} and the database", file=sys.stderr)
    else:
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["POSTKAMER_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    if database == "postgres":
        import psycopg

        name = pg_url.rsplit("/", 1)[1]
        admin = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        if not keep:
            atexit.register(_drop_database, admin, name)
        os.environ["DATABASE_URL"] = pg_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "postkamer.settings"
    sys.path.insert(0, str(ROOT))
    from postkamer import envconf

    envconf.generate_keys(Path(data_dir))  # what `postkamer bootstrap` does first
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    call_command("migrate", verbosity=0)


def _drop_database(admin: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _fill(box, count: int, seed: int) -> float:
    import datetime as dt

    from django.utils import timezone

    from postkamer.fetching import store
    from postkamer.fetching.models import FolderState
    from postkamer.mail.imapfetch import FetchedMessage

    rng = random.Random(seed)
    words = _vocabulary(rng)
    state = FolderState.objects.create(mailbox=box, role="inbox", name="INBOX", uidvalidity=1)
    start_at = timezone.now() - dt.timedelta(days=3 * 365)
    step = dt.timedelta(days=3 * 365) / count
    began = time.perf_counter()
    batch = []
    for i in range(1, count + 1):
        fetched = FetchedMessage(
            uid=i, raw=_message(rng, words, i), flags=(), internal_date=start_at + step * i
        )
        batch.append(store.prepare(fetched))
        if len(batch) == 500 or i == count:
            store.store_batch(state, 1, batch)
            batch = []
    return time.perf_counter() - began


def _timed(client, url: str, n: int) -> dict[str, float | int]:
    from django.db import connection

    for _ in range(3):  # warm caches and the query planner
        assert client.get(url).status_code == 200, url
    queries = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queries.append(sql)
        return execute(sql, params, many, context)

    # Counted by a wrapper: the test client's request signals would reset Django's log.
    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200
    times, cpu = [], []
    for _ in range(n):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        if getattr(response, "streaming", False):
            for _chunk in response.streaming_content:
                pass
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    times.sort()
    cpu.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "cpu_p50": statistics.median(cpu),
        "cpu_p95": cpu[max(0, round(0.95 * len(cpu)) - 1)],
        "queries": len(queries),
    }


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _attachment_memory(box, user, kind: str) -> dict[str, float]:
    from django.conf import settings
    from django.test import Client

    from tests import factories

    settings.POSTKAMER_RAW_STORE = kind
    data = os.urandom(ATTACHMENT_BYTES)
    raw = factories.mime_message(attachments=(("groot.bin", "application/octet-stream", data),))
    message = factories.stored(box, raw)
    del raw
    client = Client()
    client.force_login(user)
    page_url = f"/email/messages/{message.pk}/"
    url = f"/email/messages/{message.pk}/attachments/0/"
    client.get(page_url)
    # Reset the peak RSS, then stream: what the download itself costs.
    Path("/proc/self/clear_refs").write_text("5")
    base_rss = _peak_rss_kb()
    tracemalloc.start()
    response = client.get(url)
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    response.close()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = (_peak_rss_kb() - base_rss) * 1024
    assert size == ATTACHMENT_BYTES
    tracemalloc.start()
    client.get(page_url)
    page_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"python_peak": peak, "rss_peak": rss, "page_peak": page_peak}


def child(
    database: str,
    count: int,
    requests: int,
    pg_url: str,
    skip_attachment: bool,
    keep: bool,
    unindexed: bool = False,
) -> None:
    _setup_django(database, pg_url, keep)
    from django.db import connection
    from django.test import Client

    from postkamer.messages.models import Message, MessageRead
    from tests import factories

    tenant = factories.tenant("Bench")
    user = factories.user(tenant)
    box = factories.mailbox(tenant, owners=(user,), name="Info")
    for _ in range(4):  # the switcher counts every mailbox of the user
        factories.mailbox(tenant, owners=(user,))
    fill_s = _fill(box, count, seed=1)
    ids = list(Message.objects.filter(mailbox=box).values_list("pk", flat=True))
    rng = random.Random(2)
    MessageRead.objects.bulk_create(
        [
            MessageRead(user=user, message_id=pk, mailbox=box, folder="inbox")
            for pk in rng.sample(ids, len(ids) * 3 // 10)
        ],
        batch_size=5000,
    )
    # PostgreSQL's search index is built after the fetch, by a queued task (no worker
    # runs here): built now and timed, unless --unindexed measures the searches that
    # compute the vectors on the fly.
    from postkamer.messages import search

    began = time.perf_counter()
    indexed = 0 if unindexed else search.index_pending()
    index_s = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if database == "sqlite" else "VACUUM ANALYZE")
    print(
        json.dumps(
            {
                "fill_seconds": fill_s,
                "messages": count,
                "index_seconds": index_s,
                "indexed": indexed,
                "unindexed": search.pending_count(),
            }
        ),
        flush=True,
    )

    client = Client()
    client.force_login(user)
    words = _vocabulary(random.Random(1))
    one = ids[len(ids) // 2]
    scenarios = {
        "list page 1": f"/email/?mailbox={box.pk}",
        "list page 100": f"/email/?mailbox={box.pk}&page=100",
        "search, rare word": f"/email/?mailbox={box.pk}&q={words[2000]}",
        "search, medium word": f"/email/?mailbox={box.pk}&q={words[60]}",
        "search, common word": f"/email/?mailbox={box.pk}&q={words[0]}",
        "search, two words": f"/email/?mailbox={box.pk}&q={words[1]}+{words[5]}",
        "search, sender address": f"/email/?mailbox={box.pk}&q=klant17%40voorbeeld3.test",
        "search, word + attachments + dates": (
            f"/email/?mailbox={box.pk}&q={words[3]}&attachments=on"
            "&since=2025-01-01&until=2026-12-31"
        ),
        "API list": f"/api/v1/mailboxes/{box.pk}/messages/",
        "API search": f"/api/v1/mailboxes/{box.pk}/messages/?q={words[60]}",
        "open a message": f"/email/messages/{one}/",
        "message body frame": f"/email/messages/{one}/body/",
    }
    for name, url in scenarios.items():
        result = _timed(client, url, requests)
        print(json.dumps({"scenario": name, **result}), flush=True)
    if not skip_attachment:
        for kind in ("pack", "database"):
            print(json.dumps({"attachment": kind, **_attachment_memory(box, user, kind)}))


# -- the parent: run and print -----------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=60, help="timed requests per scenario")
    ap.add_argument("--databases", default="sqlite,postgres")
    ap.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/postkamer_bench_reading"
    )
    ap.add_argument("--skip-attachment", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the databases, to look at plans")
    ap.add_argument(
        "--unindexed",
        action="store_true",
        help="PostgreSQL: search before the search index is built (vectors on the fly)",
    )
    ap.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(
            args.child,
            args.messages,
            args.requests,
            args.pg_url,
            args.skip_attachment,
            args.keep,
            args.unindexed,
        )
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for database in args.databases.split(","):
        print(f"\n== {database}: {args.messages:,} messages in one mailbox ==", flush=True)
        command = [sys.executable, __file__, "--child", database]
        command += ["--messages", str(args.messages), "--requests", str(args.requests)]
        command += ["--pg-url", args.pg_url] + (
            ["--skip-attachment"] if args.skip_attachment else []
        )
        command += ["--keep"] if args.keep else []
        command += ["--unindexed"] if args.unindexed else []
        process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if process.returncode:
            print(process.stdout, process.stderr)
            raise SystemExit(f"{database}: the benchmark failed")
        for line in process.stdout.splitlines():
            if not line.startswith("{"):
                continue
            item = json.loads(line)
            if "fill_seconds" in item:
                rate = item["messages"] / item["fill_seconds"]
                print(
                    f"stored through the fetch store in {item['fill_seconds']:.1f} s ({rate:,.0f}/s)"
                )
                if item["indexed"] or item["unindexed"]:
                    print(
                        f"search index built after it: {item['indexed']:,} messages in "
                        f"{item['index_seconds']:.1f} s; {item['unindexed']:,} left unindexed"
                    )
            elif "scenario" in item:
                worst = item["p95"] / LIMIT_MS
                print(
                    f"{item['scenario']:<36} p50 {item['p50']:6.1f} ms  p95 {item['p95']:6.1f} ms"
                    f"  ({worst:4.2f}x the {LIMIT_MS:.0f} ms limit)  {item['queries']:2} queries"
                    f"  | CPU of this process p50 {item['cpu_p50']:5.1f} p95 {item['cpu_p95']:5.1f} ms"
                )
            elif "attachment" in item:
                mb = ATTACHMENT_BYTES
                print(
                    f"10 MB attachment from the {item['attachment']} store: Python peak "
                    f"{item['python_peak'] / 1e6:.2f} MB ({item['python_peak'] / mb:.3f}x), peak RSS "
                    f"+{item['rss_peak'] / 1e6:.1f} MB ({item['rss_peak'] / mb:.2f}x; limit 2x); "
                    f"opening the message: {item['page_peak'] / 1e6:.2f} MB"
                )


if __name__ == "__main__":
    main()
