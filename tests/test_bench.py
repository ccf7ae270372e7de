"""The fetch benchmark must not rot: run it on a tiny corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers.plugin import worker_port_base

ROOT = Path(__file__).resolve().parent.parent


def test_the_fetch_benchmark_runs_on_a_tiny_corpus():
    # Offset 40 keeps clear of the session Dovecot and SMTP ports of this worker.
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--count",
        "50",
        "--pollers",
        "5",
        "--skip-mbsync",
        "--skip-memory",
        "--port-base",
        str(worker_port_base() + 40),
    ]
    postgres = os.environ.get("DATABASE_URL")
    if postgres:
        # (c) on PostgreSQL as well, on a throwaway database of that server.
        command += ["--postgres", postgres]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTKAMER_"))},
    )
    assert result.returncode == 0, result.stderr
    assert "(c) Postkamer initial sync, pack store (50 stored)" in result.stdout
    assert "(c) Postkamer initial sync, database store (50 stored)" in result.stdout
    assert "(d) poll 5 unchanged mailboxes" in result.stdout
    assert "(g) CPU budget of 2x the raw time" in result.stdout
    if postgres:
        assert "(c) Postkamer initial sync, PostgreSQL (50 stored)" in result.stdout
        assert "the SQLite pack store's time" in result.stdout


def test_the_reading_benchmark_runs_on_a_small_mailbox():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_reading.py"),
            "--messages",
            "300",
            "--requests",
            "2",
            "--databases",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTKAMER_"))},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "search, common word" in result.stdout and "list page 1" in result.stdout
    assert "10 MB attachment from the database store" in result.stdout
