"""With REDIS_URL the task queue runs on the real Redis of this machine (docs/product.md, Running)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_fetch_tasks_are_queued_in_redis_when_redis_url_is_set(tmp_path):
    # A child process: Huey is built from the settings once, at start-up.
    script = """
import django
django.setup()
from huey.contrib.djhuey import HUEY
from postkamer.fetching import tasks
HUEY.flush()
assert type(HUEY).__name__ == "PriorityRedisHuey", type(HUEY).__name__
tasks.fetch_task.schedule((12345,), delay=0, priority=100)
assert HUEY.pending_count() == 1, HUEY.pending_count()
task = HUEY.dequeue()
assert task.args == (12345,) and task.priority == 100, (task.args, task.priority)
HUEY.flush()
print("ok")
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "postkamer.settings",
        "POSTKAMER_DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        # A queue of its own: HUEY.flush() must not empty another run's queue.
        "POSTKAMER_QUEUE_NAME": f"postkamer-test-{uuid.uuid4().hex}",
    }
    env.pop("POSTKAMER_HUEY_IMMEDIATE", None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
