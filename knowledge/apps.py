from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = _("知识库")

    def ready(self) -> None:
        from knowledge import handlers, suggestions
        from routing import textsearch

        handlers.register()
        textsearch.register(suggestions.list_matches)
