from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from postkamer.accounts.models import User


class Command(BaseCommand):
    help = "Print an API token for a user (created on first use)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["email"].lower()).first()
        if user is None:
            raise CommandError(f"No user {options['email']}.")
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
