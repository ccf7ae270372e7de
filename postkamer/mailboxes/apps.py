from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "postkamer.mailboxes"
    label = "mailboxes"
    verbose_name = "Mailboxes"
