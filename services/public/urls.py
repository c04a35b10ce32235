"""The citizen portal, live chat and Open311; mounted at the site root."""

from django.urls import path, re_path

from services.public import chat_views, report, tracking_views
from services.public.open311 import views as open311

FMT = r"\.(?P<fmt>xml|json)$"

urlpatterns = [
    path("report/", report.report, name="public-report"),
    path("track/", tracking_views.track_page, name="public-track"),
    path("api/v1/public/track/", tracking_views.track_api, name="public-track-api"),
    path("chat/", chat_views.chat_page, name="public-chat"),
    path("chat/start/", chat_views.chat_start, name="public-chat-start"),
    path("chat/agent/token/", chat_views.agent_token, name="public-chat-agent-token"),
    path("open311/v2/", open311.root, name="open311-root"),
    re_path(r"^open311/v2/discovery" + FMT, open311.discovery, name="open311-discovery"),
    re_path(r"^open311/v2/services" + FMT, open311.service_list, name="open311-services"),
    re_path(r"^open311/v2/services/(?P<code>[^/]+?)" + FMT, open311.service_definition, name="open311-service"),
    re_path(r"^open311/v2/requests" + FMT, open311.service_requests, name="open311-requests"),
    re_path(r"^open311/v2/requests/(?P<request_id>[^/]+?)" + FMT, open311.service_request, name="open311-request"),
    re_path(r"^open311/v2/tokens/(?P<token>[^/]+?)" + FMT, open311.token, name="open311-token"),
    re_path(r"^open311/v2/(?P<path>.*)$", open311.unknown, name="open311-unknown"),
]
