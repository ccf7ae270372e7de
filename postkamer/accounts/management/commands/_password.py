from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import CommandError


def password_from(env_name: str, prompt: str) -> str:
    """Return the password from ``env_name`` or an interactive prompt (asked twice)."""
    value = os.environ.get(env_name)
    if value:
        return value
    if not sys.stdin.isatty():
        raise CommandError(f"Set {env_name} or run this command in a terminal to type a password.")
    first = getpass.getpass(prompt)
    if not first or first != getpass.getpass("Nogmaals / again: "):
        raise CommandError("The passwords are empty or differ.")
    return first
