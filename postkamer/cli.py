"""The ``postkamer`` command: Django's manage.py with friendly verbs (docs/product.md, Public interfaces)."""

from __future__ import annotations

import os
import sys

# Two-word and dashed verbs map to Django command names.
_ALIASES = {
    ("user", "add"): "user_add",
    ("check-dns",): "check_dns",
    ("rotate-keys",): "rotate_keys",
    ("gc-raw",): "gc_raw",
}


def translate_argv(argv: list[str]) -> list[str]:
    """Return ``argv`` with the friendly verb replaced by the Django command name."""
    args = argv[1:]
    for words, command in _ALIASES.items():
        if tuple(args[: len(words)]) == words:
            return [argv[0], command, *args[len(words) :]]
    return list(argv)


def prepare_process() -> None:
    """Make every file this process creates the owner's alone, and have a data dir.

    Before Django is set up: loading the apps already opens the task queue's SQLite
    file in the data dir (see ``postkamer.core.datadir``).
    """
    from postkamer import envconf
    from postkamer.core import datadir

    os.umask(datadir.UMASK)
    datadir.create(envconf.data_dir())


def main() -> None:
    prepare_process()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postkamer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(translate_argv(sys.argv))


if __name__ == "__main__":
    main()
