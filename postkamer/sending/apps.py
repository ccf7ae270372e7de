from django.apps import AppConfig


class SendingConfig(AppConfig):
    name = "postkamer.sending"
    label = "sending"
    verbose_name = "Sending"

    def ready(self) -> None:
        from postkamer.fetching import logs

        # The once-a-minute retry dispatcher logs what it queued itself.
        logs.install("dispatch_due_sends")
