"""The knowledge pages; the project mounts them at ``/knowledge/``."""

from django.urls import path

from knowledge import views

urlpatterns = [
    path("", views.search_page, name="knowledge-search"),
    path("articles/", views.article_list, name="knowledge-articles"),
    path("articles/new/", views.article_create, name="knowledge-article-new"),
    path("articles/<int:pk>/", views.article_detail, name="knowledge-article"),
    path("articles/<int:pk>/edit/", views.article_edit, name="knowledge-article-edit"),
    path("articles/<int:pk>/history/", views.article_history, name="knowledge-article-history"),
    path("articles/<int:pk>/<slug:action>/", views.article_action, name="knowledge-article-action"),
    path("review/", views.review_queue, name="knowledge-review"),
]
