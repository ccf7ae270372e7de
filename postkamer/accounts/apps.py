from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "postkamer.accounts"
    label = "accounts"
    verbose_name = "Accounts"
