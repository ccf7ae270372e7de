from django.apps import AppConfig


class FetchingConfig(AppConfig):
    name = "postkamer.fetching"
    label = "fetching"
    verbose_name = "Fetching"

    def ready(self) -> None:
        from postkamer.fetching import logs

        logs.install()
