from django.apps import AppConfig


class AutoReplyConfig(AppConfig):
    name = "postkamer.autoreply"
    label = "autoreply"
    verbose_name = "Automatic replies"

    def ready(self) -> None:
        # Newly fetched inbox mail is judged once its batch has committed.
        from postkamer.autoreply import receivers
        from postkamer.messages.signals import messages_stored
        from postkamer.sending.signals import outgoing_failed, outgoing_sent

        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
        # The sending worker reports how each reply ended; sending knows nothing of us.
        outgoing_sent.connect(receivers.record_sent, dispatch_uid="autoreply-sent")
        outgoing_failed.connect(receivers.record_failed, dispatch_uid="autoreply-failed")
