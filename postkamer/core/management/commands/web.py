"""``postkamer web``: the web server alone (scaled-out deployments)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from postkamer.core.management.commands.serve import web_command
from postkamer.core.startup import require_keys


class Command(BaseCommand):
    help = "Run the production web server (gunicorn). Run 'postkamer migrate' first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("POSTKAMER_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        require_keys()
        argv = web_command(options["bind"], options["web_workers"])
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postkamer.settings")
        os.execv(argv[0], argv)
