"""Encryption of secrets at rest (mail passwords, OAuth tokens).

MultiFernet with the configured keys, newest first: new values are encrypted with
the newest key, old ones still decrypt until ``postkamer rotate-keys`` re-encrypts
them.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "No encryption key: run 'postkamer bootstrap' or 'postkamer serve' once to "
            "generate one, or set POSTKAMER_ENCRYPTION_KEYS."
        )
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """Return the MultiFernet built from ``settings.ENCRYPTION_KEYS``."""
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Return ``plaintext`` encrypted with the newest key ("" stays "")."""
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Return the plaintext of ``token``; raise SecretUnreadable when no key fits."""
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from None


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted with the newest key."""
    if not token:
        return ""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from None
