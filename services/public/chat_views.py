"""HTTP side of the live chat: the citizen's page, starting a chat, the agent's socket token."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from hotline.api_errors import error_body
from routing.errors import DomainError
from services.public import chat, chat_auth, ratelimit
from services.public.models import MAX_CHAT_MESSAGE
from services.public.pages import rate_limited_json


@require_GET
def chat_page(request: HttpRequest) -> HttpResponse:
    """在线咨询: the citizen's chat widget."""
    return render(request, "public/chat.html", {"max_message": MAX_CHAT_MESSAGE})


@require_POST
def chat_start(request: HttpRequest) -> JsonResponse:
    """POST /chat/start/ (name, phone, confidential optional) → 201 {"token", "ws_url"}: the citizen's credential for the chat."""
    verdict = ratelimit.hit("chat.start.ip", ratelimit.client_ip(request))
    if not verdict.allowed:
        return rate_limited_json(retry_after=verdict.retry_after)
    try:
        session = chat.start_session(
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
            confidential=request.POST.get("confidential", "").lower() in ("1", "true", "on", "yes"),
        )
    except DomainError as exc:
        return JsonResponse(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    return JsonResponse({"token": session.token, "ws_url": f"/ws/chat/{session.token}/"}, status=201)


@require_GET
def agent_token(request: HttpRequest) -> JsonResponse:
    """GET /chat/agent/token/ → {"token", "ws_url"} for a signed-in agent, dispatcher or supervisor."""
    if not request.user.is_authenticated:
        return JsonResponse(error_body("not_authenticated", _("请先登录")), status=401)
    if not chat.is_chat_staff(request.user):
        return JsonResponse(error_body("forbidden", _("只有话务员、派单员或督办可以接待在线咨询")), status=403)
    token = chat_auth.issue_token(request.user)
    return JsonResponse({"token": token, "ws_url": f"/ws/agent/chat/?token={token}"})
