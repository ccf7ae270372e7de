from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from postkamer.accounts import services
from postkamer.accounts.models import Organisation, Tenant, User
from postkamer.accounts.passwords import check_password_strength, password_from


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Command(BaseCommand):
    help = "Create a user (postkamer user add EMAIL --tenant NAME ...); idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--organisation", help="created under the tenant's root when missing")
        parser.add_argument(
            "--rights", help="comma-separated: email_manager,multi_user,repair_sync"
        )
        parser.add_argument(
            "--groups", help="comma-separated workflow groups, created when missing"
        )
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        # The first command on a fresh data dir: bring the database up to date.
        call_command("migrate", interactive=False, verbosity=0)
        tenant = Tenant.objects.filter(name=options["tenant"]).first()
        if tenant is None:
            raise CommandError(
                f"Tenant '{options['tenant']}' does not exist (postkamer bootstrap)."
            )
        root = services.root_organisation(tenant)
        organisation = root
        if options["organisation"]:
            organisation = Organisation.objects.filter(
                tenant=tenant, name=options["organisation"]
            ).first() or Organisation.objects.create(
                tenant=tenant, parent=root, name=options["organisation"]
            )
        exists = User.objects.filter(email=options["email"].lower()).exists()
        password = None
        if not exists:
            password = password_from("POSTKAMER_USER_PASSWORD", "Wachtwoord / password: ")
            check_password_strength(password, options["email"], options["name"])
        try:
            user, created = services.ensure_user(
                options["email"],
                tenant=tenant,
                organisation=organisation,
                rights=_names(options["rights"]),
                groups=_names(options["groups"]),
                password=password,
                name=options["name"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        verb = "created" if created else "updated"
        self.stdout.write(f"User {user.email} {verb} in '{tenant.name}' / '{organisation.name}'.")
