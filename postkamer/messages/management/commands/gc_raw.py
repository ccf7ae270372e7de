"""``postkamer gc-raw``: reclaim raw message bytes no message refers to any more."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from postkamer.messages import rawstore


class Command(BaseCommand):
    help = (
        "Delete raw messages that no message refers to (e.g. after a mailbox was deleted) "
        "and rewrite pack segments whose live bytes fell below the threshold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threshold",
            type=float,
            default=rawstore.REWRITE_BELOW,
            help="rewrite segments whose live share is below this (default 0.5)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = rawstore.collect_garbage(options["threshold"])
        self.stdout.write(
            f"Deleted {result.rows_deleted} unreferenced raw message(s); rewrote "
            f"{result.segments_rewritten} pack segment(s), {result.bytes_reclaimed} bytes freed."
        )
