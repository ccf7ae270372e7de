from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from postkamer.accounts import tokens
from postkamer.accounts.models import User


class Command(BaseCommand):
    help = (
        "Print a user's API token (made on first use); --rotate replaces it with a new "
        "one, --revoke deletes it. Either way the old token stops working at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--rotate", action="store_true", help="make a new token")
        action.add_argument("--revoke", action="store_true", help="delete the token")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["email"].strip().lower()).first()
        if user is None:
            raise CommandError(f"No user {options['email']}.")
        if options["revoke"]:
            if tokens.do_revoke_token(user):
                self.stdout.write(f"The API token of {user.email} is revoked.")
            else:
                self.stdout.write(f"{user.email} had no API token.")
            return
        key = tokens.do_rotate_token(user) if options["rotate"] else tokens.get_or_create(user)
        self.stdout.write(key)
