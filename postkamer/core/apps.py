from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "postkamer.core"
    label = "core"
    verbose_name = "Postkamer"

    def ready(self) -> None:
        from postkamer.core import checks  # noqa: F401  (registers the system checks)
