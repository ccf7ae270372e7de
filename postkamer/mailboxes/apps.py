from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "postkamer.mailboxes"
    label = "mailboxes"
    verbose_name = "Mailboxes"

    def ready(self) -> None:
        from functools import partial

        from postkamer.accounts import notifications
        from postkamer.mailboxes import problems

        # "Mailbox X was switched off" is worded when it is shown, in the reader's language.
        notifications.register_wording(
            problems.MAILBOX_DISABLED, partial(problems.describe, problems.MAILBOX_DISABLED)
        )
        notifications.register_wording(
            problems.RECONNECT_NEEDED, partial(problems.describe, problems.RECONNECT_NEEDED)
        )
