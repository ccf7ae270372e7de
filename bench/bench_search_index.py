"""What the full-text index costs the fetch store: the same prepared messages stored
with and without it, alternately, on SQLite (FTS5 triggers) and PostgreSQL (the
generated tsvector column and its GIN index); ``--index threads`` does the same for
the two conversation indexes (thread key, subject key).

    .venv/bin/python bench/bench_search_index.py [--count 2000] [--rounds 2] [--index threads]

Uses the fetch benchmark's corpus (``bench/corpus.py``), parsed once beforehand, and
times only ``store.store_batch`` (batches of 200, the pack raw store), wall clock and
the CPU of this process (SQLite works in-process; PostgreSQL's own CPU is not in it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


THREAD_INDEXES = {
    "message_thread_idx": "(mailbox_id, thread_key)",
    "message_subject_idx": "(mailbox_id, subject_key)",
}


def child(database: str, count: int, rounds: int, pg_url: str, index: str) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.bench_reading import _setup_django

    _setup_django(database, pg_url)
    from django.conf import settings
    from django.db import connection

    from bench.corpus import generate
    from postkamer.fetching import store
    from postkamer.fetching.models import FolderState
    from postkamer.mail.imapfetch import FetchedMessage
    from postkamer.messages import search
    from tests import factories

    settings.POSTKAMER_RAW_STORE = "pack"
    prepared = [
        store.prepare(FetchedMessage(uid=i + 1, raw=raw, flags=(), internal_date=None))
        for i, raw in enumerate(generate(count, seed=1))
    ]
    tenant = factories.tenant("Index")

    def switch(on: bool) -> None:
        with connection.cursor() as cursor:
            if index == "threads":
                for name, columns in THREAD_INDEXES.items():
                    if on:
                        cursor.execute(
                            f"CREATE INDEX IF NOT EXISTS {name} ON {search.TABLE} {columns}"
                        )
                    else:
                        cursor.execute(f"DROP INDEX IF EXISTS {name}")
            elif database == "sqlite":
                if on:
                    search.ensure_sqlite_triggers()
                else:
                    for name in ("ai", "ad", "au"):
                        cursor.execute(f"DROP TRIGGER IF EXISTS {search.FTS_TABLE}_{name}")
            elif on:
                for sql in search.POSTGRES_ADD:
                    cursor.execute(sql)
            else:
                for sql in search.POSTGRES_DROP:
                    cursor.execute(sql)

    def run(on: bool) -> tuple[float, float]:
        switch(on)
        box = factories.mailbox(tenant)
        state = FolderState.objects.create(mailbox=box, role="inbox", name="INBOX", uidvalidity=1)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(prepared), 200):
            store.store_batch(state, 1, prepared[i : i + 200])
        return time.perf_counter() - wall, time.process_time() - cpu

    results: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    for _ in range(rounds):
        results["without"].append(run(False))
        results["with"].append(run(True))
    print(json.dumps(results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--databases", default="sqlite,postgres")
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postkamer_bench_index")
    ap.add_argument(
        "--index",
        choices=["fts", "threads"],
        default="fts",
        help="the full-text index (default) or the two conversation indexes",
    )
    ap.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.count, args.rounds, args.pg_url, args.index)
        return
    for database in args.databases.split(","):
        command = [sys.executable, __file__, "--child", database, "--count", str(args.count)]
        command += ["--rounds", str(args.rounds), "--pg-url", args.pg_url, "--index", args.index]
        process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if process.returncode:
            print(process.stdout, process.stderr)
            raise SystemExit(f"{database}: the benchmark failed")
        results = json.loads(process.stdout.strip().splitlines()[-1])
        best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in results.items()}
        (w1, c1), (w0, c0) = best["with"], best["without"]
        print(
            f"{database}, {args.index} index: storing {args.count} messages, best of {args.rounds}: "
            f"without the index {w0:.2f} s ({c0:.2f} CPU-s), with it {w1:.2f} s "
            f"({c1:.2f} CPU-s): +{(w1 / w0 - 1) * 100:.0f} % wall, +{c1 - c0:.2f} CPU-s"
        )


if __name__ == "__main__":
    main()
