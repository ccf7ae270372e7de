"""``postkamer bootstrap``: the data dir and its keys, the database, a tenant and its
first administrator. In core, above accounts, because it prepares the whole
installation."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from postkamer.accounts import services
from postkamer.accounts.models import Edition
from postkamer.accounts.passwords import check_password_strength, password_from
from postkamer.core.startup import prepare_data_dir


class Command(BaseCommand):
    help = "Create a tenant, its root organisation and an administrator with every right."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--edition", required=True, choices=[e.value for e in Edition])
        parser.add_argument("--admin", required=True, help="the administrator's e-mail address")

    def handle(self, *args: Any, **options: Any) -> None:
        from postkamer.accounts.models import User

        # The first command on a fresh data dir: the keys, then the database.
        prepare_data_dir(self.stdout.write)
        call_command("migrate", interactive=False, verbosity=0)
        existing = User.objects.filter(email=options["admin"].lower()).first()
        password = ""
        if not existing:
            password = password_from("POSTKAMER_ADMIN_PASSWORD", "Wachtwoord / password: ")
            check_password_strength(password, options["admin"])
        try:
            user, created = services.bootstrap(
                options["tenant"], options["edition"], options["admin"], password
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        verb = "created" if created else "already existed"
        self.stdout.write(
            f"Tenant '{user.tenant.name}' ({user.tenant.edition}); administrator {user.email} {verb}."
        )
