from django.apps import AppConfig


class SendingConfig(AppConfig):
    name = "postkamer.sending"
    label = "sending"
    verbose_name = "Sending"

    def ready(self) -> None:
        from postkamer.messages import sendstate
        from postkamer.sending import status
        from postkamer.shared import tasklogs

        # The once-a-minute retry dispatcher logs what it queued itself.
        tasklogs.install("dispatch_due_sends")
        # A message we sent shows its send state wherever it is shown.
        sendstate.register(status.send_state)
