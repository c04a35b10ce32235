from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublicDeskConfig(AppConfig):
    name = "services.public"
    label = "public_desk"
    verbose_name = _("网上受理")

    def ready(self) -> None:
        from datetime import timedelta

        from routing import periodic
        from services.public import chat, privacy

        privacy.register()
        from routing import kpis
        from services.public.kpis import chat_answered_3min

        kpis.register_provider("chat_answered_3min", chat_answered_3min)
        # Chats nobody has written in for an hour end, and their transcript goes on the ticket.
        periodic.register("chat.close_idle", lambda: chat.close_idle(idle_for=timedelta(minutes=60)), every_seconds=300)
