"""The knowledge API, mounted at ``/api/v1/knowledge/``."""

from django.urls import path

from knowledge import api

urlpatterns = [
    path("search/", api.ArticleSearchView.as_view(), name="knowledge-api-search"),
    path("suggest/", api.SuggestView.as_view(), name="knowledge-api-suggest"),
    path("tickets/", api.TicketSearchView.as_view(), name="knowledge-api-tickets"),
    path("articles/<int:pk>/", api.ArticleDetailView.as_view(), name="knowledge-api-article"),
]
