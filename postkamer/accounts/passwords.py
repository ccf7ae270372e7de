"""Passwords given on the command line (bootstrap, user add): where they come from
and the same validators the pages use."""

from __future__ import annotations

import getpass
import os
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from postkamer.accounts.models import User


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


def check_password_strength(password: str, email: str, name: str = "") -> None:
    """Run the password validators the pages use; CommandError naming every reason
    (in the default language, Dutch, like the validators' own messages)."""
    try:
        validate_password(password, user=User(email=email.strip().lower(), name=name))
    except ValidationError as error:
        raise CommandError(
            _("The password for %(email)s is not accepted: %(reasons)s")
            % {"email": email, "reasons": " ".join(error.messages)}
        ) from None
