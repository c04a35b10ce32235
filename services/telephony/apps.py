from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    name = "services.telephony"
    label = "telephony"
    verbose_name = _("电话与短信")

    def ready(self) -> None:
        from routing import kpis, outbox
        from services.telephony import conf, screen_pop, sms, transfers
        from services.telephony.kpis import answer_rate, answered_within_15s, sms_answered_3min

        conf.check()
        outbox.register_handler("citizen.notify", sms.deliver_citizen_notify)
        outbox.register_handler(screen_pop.OUTBOX_KIND, screen_pop.deliver)
        outbox.register_handler(transfers.OUTBOX_KIND, transfers.deliver)
        kpis.register_provider("answer_rate", answer_rate)
        kpis.register_provider("answered_15s", answered_within_15s)
        kpis.register_provider("sms_answered_3min", sms_answered_3min)
        from services.telephony import privacy

        privacy.register()
