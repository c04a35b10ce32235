from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("工单流转")

    def ready(self) -> None:
        from django.conf import settings

        from routing import effects  # noqa: F401  registers the live-update outbox handler
        from routing import hotissues, kpis, periodic, sweep
        from routing.intelligence import training

        periodic.register("sweep", sweep.run, every_seconds=settings.SWEEP_INTERVAL_SECONDS)
        periodic.register("kpis.roll_up", kpis.roll_up, every_seconds=settings.KPI_ROLLUP_SECONDS)
        periodic.register("hotissues.prune", hotissues.prune, every_seconds=24 * 3600)
        periodic.register("intelligence.retrain", training.retrain_if_due, every_seconds=settings.RETRAIN_CHECK_SECONDS)

