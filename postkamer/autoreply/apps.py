from django.apps import AppConfig


class AutoReplyConfig(AppConfig):
    name = "postkamer.autoreply"
    label = "autoreply"
    verbose_name = "Automatic replies"

    def ready(self) -> None:
        # Newly fetched inbox mail is judged once its batch has committed.
        from postkamer.autoreply import receivers
        from postkamer.messages.signals import messages_stored

        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
