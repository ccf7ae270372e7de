from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "postkamer.api"
    label = "api"
    verbose_name = "API"
