from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublicDeskConfig(AppConfig):
    name = "services.public"
    label = "public_desk"
    verbose_name = _("网上受理")
