"""What ``postkamer bootstrap``/``serve`` do before anything else, and what
``postkamer web``/``worker`` insist on."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.management.base import CommandError

from postkamer import envconf
from postkamer.core import datadir


def prepare_data_dir(say: Callable[[str], None]) -> None:
    """Make the data dir private, generate the keys the environment does not give,
    and load them into this process's settings (they were read before they existed)."""
    directory = settings.DATA_DIR
    if datadir.make_private(directory):
        say(f"{directory} was open to other users; it is now the owner's alone (mode 0700).")
    created = envconf.generate_keys(directory)
    if created:
        say(
            f"Generated {' and '.join(created)} in {directory}. Back them up, apart from the "
            "database: without encryption_keys the stored mail passwords cannot be read."
        )
    settings.SECRET_KEY = envconf.secret_key(directory)
    settings.ENCRYPTION_KEYS = envconf.encryption_keys(directory)


def require_keys() -> None:
    """Raise CommandError (one line) when the secret key or encryption keys are missing."""
    problem = envconf.missing_keys_message(settings.DATA_DIR)
    if problem:
        raise CommandError(problem)
