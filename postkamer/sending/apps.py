from django.apps import AppConfig


class SendingConfig(AppConfig):
    name = "postkamer.sending"
    label = "sending"
    verbose_name = "Sending"
