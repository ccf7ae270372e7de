"""``postkamer rotate-keys``: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from postkamer import crypto
from postkamer.mailboxes.models import Mailbox, OAuthGrant

# Every model field that holds a crypto-encrypted secret.
SECRET_FIELDS: list[tuple[type, list[str]]] = [
    (Mailbox, ["imap_password_enc", "smtp_password_enc"]),
    (OAuthGrant, ["refresh_token_enc", "access_token_enc"]),
]


class Command(BaseCommand):
    help = (
        "Re-encrypt all stored secrets with the first key of POSTKAMER_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones behind it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for model, fields in SECRET_FIELDS:
                for obj in model.objects.select_for_update().only("pk", *fields):
                    try:
                        for field in fields:
                            setattr(obj, field, crypto.rotate(getattr(obj, field)))
                    except crypto.SecretUnreadable:
                        raise CommandError(
                            f"{model.__name__} {obj.pk}: a secret cannot be decrypted with any "
                            "configured key; nothing was changed."
                        ) from None
                    obj.save(update_fields=fields)
                    count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} object(s).")
