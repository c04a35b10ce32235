from django.urls import include, path

urlpatterns = [
    path("", include("services.telephony.urls")),
    path("", include("services.public.urls")),
]
