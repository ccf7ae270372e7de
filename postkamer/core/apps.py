from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "postkamer.core"
    label = "core"
    verbose_name = "Postkamer"
