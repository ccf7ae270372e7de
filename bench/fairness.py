"""Fairness benchmark: can one office's slow mail server delay another office's fetch?

One ``postkamer worker`` process with 2 threads; office A has two mailboxes behind
a server that drips one byte every ``--drip`` seconds (each byte well within the
read time-out), office B one normal mailbox. The three fetches are queued at
once (A, A, B) and the script prints, per fetch, how long after queueing it
started and finished, and how it ended.

Usage: ``python bench/fairness.py [--drip 1] [--mail-timeout 15] [--share N]
[--code DIR]``; ``--code`` runs another checkout of Postkamer (e.g. an older
commit, unpacked with ``git archive``) with this script's servers, to compare.
Everything runs in temp directories that are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from postkamer import envconf  # noqa: E402
from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir  # noqa: E402
from tests.servers.drip import DrippingProxy  # noqa: E402
from tests.servers.tls import make_test_ca  # noqa: E402

SETUP = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from postkamer.accounts.models import Tenant
from postkamer.mailboxes.models import Mailbox
ids = []
for office, boxes in json.loads({boxes!r}):
    tenant = Tenant.objects.create(name=office, edition="compleet")
    for email, password, port in boxes:
        box = Mailbox(tenant=tenant, name=email, sender_address=email, imap_host="127.0.0.1",
                      imap_port=port, imap_security="starttls", imap_username=email,
                      smtp_host="127.0.0.1", interval_minutes=None)
        box.imap_password = password
        box.sync_since = box.sync_since.replace(year=2000)
        box.save()
        ids.append(box.pk)
print(json.dumps(ids))
"""

QUEUE = """
import django, json
django.setup()
from django.db import transaction
from postkamer.fetching.queue import request_fetch
from postkamer.mailboxes.models import Mailbox
with transaction.atomic():
    runs = [request_fetch(Mailbox.objects.get(pk=pk)).pk for pk in {ids!r}]
print(json.dumps(runs))
"""

CHECK = """
import django, json
django.setup()
from postkamer.fetching.models import FetchRun
out = []
for run in FetchRun.objects.filter(pk__in={runs!r}).order_by("pk"):
    def since(moment):
        return None if moment is None else (moment - run.queued_at).total_seconds()
    out.append({{"run": run.pk, "mailbox": run.mailbox_id, "started": since(run.started_at),
                "finished": since(run.finished_at), "ok": run.ok, "code": run.error_code}})
print(json.dumps(out))
"""


def _python(code: str, env: dict[str, str]) -> str:
    # Run from the code's own directory: ``python -c`` puts the working directory
    # first on the path, before PYTHONPATH.
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.get("PYTHONPATH"),
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return result.stdout.strip().splitlines()[-1]


def run_scenario(
    dovecot: Dovecot,
    *,
    drip: float,
    mail_timeout: float,
    share: int | None = None,
    code: Path | None = None,
    slow_mailboxes: int = 2,
    limit: float = 300.0,
) -> list[dict]:
    """Run the scenario (see the module docstring) and return one dict per fetch,
    in queueing order: ``started`` and ``finished`` in seconds after queueing,
    ``ok`` and ``code``. The last fetch is office B's."""
    proxy = DrippingProxy(dovecot.imap_port, drip_after=0, interval=drip)
    data_dir = Path(tempfile.mkdtemp(prefix="postkamer-fairness-"))
    envconf.generate_keys(data_dir)  # what `postkamer bootstrap` does on a new data dir
    worker: subprocess.Popen | None = None
    try:
        slow = [(*dovecot.new_user(), proxy.port) for _ in range(slow_mailboxes)]
        email, password = dovecot.new_user()
        dovecot.deliver(email, b"Subject: op tijd\r\nMessage-ID: <b@x>\r\n\r\nhoi\r\n")
        boxes = [("Kantoor A", slow), ("Kantoor B", [(email, password, dovecot.imap_port)])]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTKAMER_", "DJANGO_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="postkamer.settings",
            POSTKAMER_DATA_DIR=str(data_dir),
            POSTKAMER_ALLOW_PRIVATE_HOSTS="1",
            POSTKAMER_CA_FILE=str(dovecot.ca_file),
            POSTKAMER_MAIL_TIMEOUT=str(mail_timeout),
            POSTKAMER_WORKERS="2",
        )
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        if share is not None:
            env["POSTKAMER_TENANT_FETCHES"] = str(share)
        if code is not None:
            env["PYTHONPATH"] = str(code)
        ids = json.loads(_python(SETUP.format(boxes=json.dumps(boxes)), env))
        worker = subprocess.Popen(
            [sys.executable, "-m", "postkamer.cli", "worker"],
            env=env,
            cwd=env.get("PYTHONPATH"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = threading.Event()

        def watch() -> None:
            assert worker is not None and worker.stderr is not None
            for line in worker.stderr:
                if "consumer started" in line.lower():
                    started.set()

        threading.Thread(target=watch, daemon=True).start()
        if not started.wait(60):
            raise RuntimeError("the worker did not start")
        runs = json.loads(_python(QUEUE.format(ids=ids), env))
        end = time.monotonic() + limit
        while True:
            state = json.loads(_python(CHECK.format(runs=runs), env))
            if all(r["finished"] is not None for r in state) or time.monotonic() > end:
                return state
            time.sleep(0.5)
    finally:
        if worker is not None:
            worker.send_signal(2)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        proxy.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drip", type=float, default=1.0, help="seconds between bytes")
    parser.add_argument("--mail-timeout", type=float, default=15.0)
    parser.add_argument("--share", type=int, default=None, help="POSTKAMER_TENANT_FETCHES")
    parser.add_argument("--code", type=Path, default=None, help="another Postkamer checkout")
    parser.add_argument("--port-base", type=int, default=29300)
    args = parser.parse_args()
    workdir = make_workdir("postkamer-fairness-")
    dovecot = Dovecot(workdir, args.port_base, make_test_ca(workdir / "tls"))
    dovecot.start()
    try:
        alone = run_scenario(
            dovecot,
            drip=args.drip,
            mail_timeout=args.mail_timeout,
            code=args.code,
            slow_mailboxes=0,
        )
        print(f"office B alone: finished {alone[-1]['finished']:.1f} s after queueing", flush=True)
        state = run_scenario(
            dovecot,
            drip=args.drip,
            mail_timeout=args.mail_timeout,
            share=args.share,
            code=args.code,
        )
        for label, run in zip(("office A, slow", "office A, slow", "office B"), state, strict=True):
            finished = "not finished" if run["finished"] is None else f"{run['finished']:.1f} s"
            begun = "-" if run["started"] is None else f"{run['started']:.1f} s"
            print(
                f"{label:<16} started {begun:>7}, finished {finished:>12}, "
                f"ok={run['ok']} {run['code']}",
                flush=True,
            )
    finally:
        dovecot.close()
        remove_workdir(workdir)


if __name__ == "__main__":
    main()
