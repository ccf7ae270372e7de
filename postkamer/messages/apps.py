from django.apps import AppConfig


class MessagesConfig(AppConfig):
    name = "postkamer.messages"
    # "messages" is taken by django.contrib.messages.
    label = "mailmessages"
    verbose_name = "Messages"
