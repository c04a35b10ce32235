from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("工单流转")

    def ready(self) -> None:
        from routing import effects  # noqa: F401  registers the live-update outbox handler

