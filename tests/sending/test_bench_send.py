"""The sending benchmark must not rot: run it on three messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers.plugin import worker_port_base

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_sending_benchmark_runs_on_three_messages():
    # Offset 60: clear of this worker's session servers (+1..3, +25..27) and the
    # fetch benchmark's smoke test (+40); the SMTP servers land on +85..87.
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_send.py"),
            "--count",
            "3",
            "--port-base",
            str(worker_port_base() + 60),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTKAMER_"))},
    )
    assert result.returncode == 0, result.stderr
    assert "(a) peer: smtplib + imaplib APPEND" in result.stdout
    assert "(b) Postkamer: send to Sent copy" in result.stdout
