"""API tokens: one per user, shown in full only when made, replaced when the password
changes (so a leaked token dies with the password it came with)."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from postkamer.accounts.models import User

#: How much of a key pages and the admin show: enough to tell two apart.
PREFIX_LENGTH = 6


def prefix(key: str) -> str:
    """The first characters of ``key`` followed by an ellipsis."""
    return f"{key[:PREFIX_LENGTH]}…"


def get_or_create(user: User) -> str:
    """Return the user's token key, made on first use."""
    token, _created = Token.objects.get_or_create(user=user)
    return token.key


@transaction.atomic
def do_rotate_token(user: User) -> str:
    """Replace the user's token with a new one (made if there was none); return its key.

    The old key stops working at once.
    """
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def do_revoke_token(user: User) -> bool:
    """Delete the user's token; True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


def rotate_if_present(user: User) -> None:
    """After a password change: a user who had a token gets a new one."""
    if Token.objects.filter(user=user).exists():
        do_rotate_token(user)


def current_prefix(user: User) -> str | None:
    key = Token.objects.filter(user=user).values_list("key", flat=True).first()
    return prefix(key) if key else None
