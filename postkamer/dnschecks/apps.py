from django.apps import AppConfig


class DnsChecksConfig(AppConfig):
    name = "postkamer.dnschecks"
    label = "dnschecks"
    verbose_name = "DNS checks"
