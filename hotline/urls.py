from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hotline import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("routing.api.urls")),
    path("api/v1/knowledge/", include("knowledge.urls")),
    path("knowledge/", include("knowledge.page_urls")),
    path("", include("services.urls")),
    path("", include("frontend.urls")),
]

handler404 = "hotline.api_errors.not_found"
