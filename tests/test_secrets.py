"""Secrets are encrypted at rest and never shown: the database itself is searched."""

from __future__ import annotations

import pytest
from django.db import connection

from postkamer import crypto
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Zoek-mij-maar-0p-schijf"


def _database_contains(needle: str) -> bool:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(FULL)")
        name = connection.settings_dict["NAME"]
        if str(name).startswith("file:") or name == ":memory:":
            pytest.skip("in-memory SQLite test database has no file")
        with open(name, "rb") as handle:
            return needle.encode() in handle.read()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM mailboxes_mailbox m WHERE m::text LIKE %s", [f"%{needle}%"]
        )
        return cursor.fetchone()[0] > 0


def test_a_saved_password_is_not_in_the_database_in_plain_text():
    tenant = factories.tenant()
    factories.mailbox(tenant, password=PASSWORD)
    assert not _database_contains(PASSWORD)
    assert not _database_contains("Zoek-mij")


def test_encryption_roundtrip_and_unreadable_secret(settings):
    token = crypto.encrypt("abc")
    assert token != "abc" and crypto.decrypt(token) == "abc"
    from cryptography.fernet import Fernet

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)
