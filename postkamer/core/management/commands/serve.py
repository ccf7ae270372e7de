"""``postkamer serve``: migrate, then the web server and the worker together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from postkamer.core.startup import prepare_data_dir

#: gunicorn's default, with the path (%(U)s) instead of the request line (%(r)s) and
#: without the referrer, which would repeat another page's query string.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


def web_command(bind: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "postkamer.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--timeout",
        "120",
        "--access-logfile",
        "-",
        # The path without its query string: queries carry what must not be logged
        # (the OAuth2 code and state on the sign-in's way back, search words).
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        # gunicorn believes X-Forwarded-Proto from the same proxies as Django does
        # (none unless POSTKAMER_TRUSTED_PROXIES says so).
        "--forwarded-allow-ips",
        ",".join(str(network) for network in settings.TRUSTED_PROXIES),
        # Keep gunicorn's control socket in the data dir, not in the home folder.
        "--control-socket",
        str(settings.DATA_DIR / "gunicorn.ctl"),
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "postkamer.cli", "worker"]


class Command(BaseCommand):
    help = "Run migrations, then the web server and the background worker together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("POSTKAMER_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        prepare_data_dir(self.stdout.write)
        call_command("migrate", interactive=False, verbosity=0)
        self._greet(options["bind"])
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "postkamer.settings",
            "POSTKAMER_DATA_DIR": str(settings.DATA_DIR),
        }
        children = [
            subprocess.Popen(web_command(options["bind"], options["web_workers"]), env=env),
            subprocess.Popen(worker_command(), env=env),
        ]
        stopping = False

        def stop(signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM if child is children[0] else signal.SIGINT)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        exit_code = 0
        while True:
            for child in children:
                code = child.poll()
                if code is not None and not stopping:
                    # One half died: stop the other, so a supervisor restarts both.
                    self.stderr.write(f"{child.args[2]} stopped with exit code {code}; stopping.")
                    exit_code = code or 1
                    stop(signal.SIGTERM, None)
            if stopping:
                for child in children:
                    try:
                        child.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        child.kill()
                sys.exit(exit_code)
            time.sleep(0.5)

    def _greet(self, bind: str) -> None:
        from postkamer.accounts.models import User

        host, _, port = bind.rpartition(":")
        url = f"http://{host or '127.0.0.1'}:{port}/"
        self.stdout.write(f"Postkamer draait op / runs at {url}  (data: {settings.DATA_DIR})")
        if User.objects.filter(tenant__isnull=False).exists():
            self.stdout.write("Log in met het e-mailadres en wachtwoord van een gebruiker.")
        else:
            self.stdout.write(
                "Nog geen gebruikers. Maak de eerste beheerder aan met:\n"
                "  POSTKAMER_ADMIN_PASSWORD=... postkamer bootstrap --tenant 'Mijn kantoor' "
                "--edition compleet --admin beheer@example.nl"
            )
        self.stdout.flush()
