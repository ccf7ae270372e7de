from django.apps import AppConfig


class DnsChecksConfig(AppConfig):
    name = "postkamer.dnschecks"
    label = "dnschecks"
    verbose_name = "DNS checks"

    def ready(self) -> None:
        # The warning next to a mailbox in the list (mailboxes must not import dnschecks).
        from postkamer.dnschecks.services import with_security_error
        from postkamer.mailboxes import extensions

        extensions.add_list_mark(
            extensions.ListMark(
                annotate=with_security_error,
                template="dnschecks/_list_mark.html",
                stylesheet="postkamer/security.css",
            )
        )
