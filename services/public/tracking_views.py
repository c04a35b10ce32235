"""The tracking page (/track/) and its JSON twin (GET /api/v1/public/track/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny

from hotline.api_errors import error_body
from routing.errors import DomainError
from routing.phones import PHONE_PATTERN
from services.public import ratelimit, tracking
from services.public.forms import RatingForm, TrackForm, WithdrawForm
from services.public.pages import rate_limited, rate_limited_json

# One message for a wrong number and a wrong phone alike.
NOT_FOUND_MESSAGE = gettext_lazy("未找到该工单，请核对工单号和登记时的联系电话")


def _not_found_message() -> str:
    return str(NOT_FOUND_MESSAGE)


def _guard(request: HttpRequest) -> ratelimit.Verdict:
    """Refuse an address that guessed wrong too often, before looking anything up."""
    ip = ratelimit.client_ip(request)
    verdict = ratelimit.peek("track.fail.ip", ip)
    if not verdict.allowed:
        return verdict
    return ratelimit.hit("track.ip", ip)


def _lookup(request: HttpRequest, number: str, phone: str):
    ticket = tracking.find_ticket(number, phone)
    if ticket is None:
        ratelimit.hit("track.fail.ip", ratelimit.client_ip(request))
    return ticket


def _render(request: HttpRequest, *, form: TrackForm, ticket=None, status: int = 200, notice: str = "", error: str = "", rating_form=None, withdraw_form=None):
    context = {"form": form, "notice": notice, "error": error}
    if ticket is not None:
        view = tracking.public_view(ticket)
        context.update(
            view=view,
            access=tracking.access_token(ticket),
            rating_form=rating_form or (RatingForm() if view.can_rate else None),
            withdraw_form=withdraw_form or (WithdrawForm() if view.can_withdraw else None),
        )
    return render(request, "public/track.html", context, status=status)


@require_http_methods(["GET", "POST"])
def track_page(request: HttpRequest) -> HttpResponse:
    """GET: the look-up form (the number may come prefilled from a link). POST: look up, rate or withdraw."""
    if request.method == "GET":
        return _render(request, form=TrackForm(initial={"number": request.GET.get("number", "")[:20]}))

    action = request.POST.get("action", "lookup")
    if action in {"rate", "withdraw"}:
        return _act(request, action)

    form = TrackForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form, status=400)
    verdict = _guard(request)
    if not verdict.allowed:
        return rate_limited(request, retry_after=verdict.retry_after)
    ticket = _lookup(request, form.cleaned_data["number"], form.cleaned_data["phone"])
    if ticket is None:
        return _render(request, form=form, status=404, error=_not_found_message())
    return _render(request, form=TrackForm(initial={"number": ticket.number}), ticket=ticket)


def _act(request: HttpRequest, action: str) -> HttpResponse:
    ticket = tracking.ticket_for_access(request.POST.get("access", ""))
    if ticket is None:
        return _render(request, form=TrackForm(), status=400, error=_("查询已过期，请重新输入工单号和电话查询。"))
    form = TrackForm(initial={"number": ticket.number})
    try:
        if action == "rate":
            rating_form = RatingForm(request.POST)
            if not rating_form.is_valid():
                return _render(request, form=form, ticket=ticket, status=400, rating_form=rating_form, error=_("请完整填写评价。"))
            data = rating_form.cleaned_data
            ticket = tracking.rate(ticket, solved=data["solved"], satisfaction=data["satisfaction"], comment=data["comment"])
            notice = _("感谢您的评价。") if data["satisfaction"] != "unsatisfied" else _("已收到您的评价，工单已退回承办单位重新办理。")
        else:
            withdraw_form = WithdrawForm(request.POST)
            if not withdraw_form.is_valid():
                return _render(request, form=form, ticket=ticket, status=400, withdraw_form=withdraw_form, error=_("撤单原因过长。"))
            ticket = tracking.withdraw(ticket, reason=withdraw_form.cleaned_data["reason"])
            notice = _("工单已撤销。")
    except DomainError as exc:
        ticket.refresh_from_db()
        return _render(request, form=form, ticket=ticket, status=exc.http_status, error=exc.message)
    return _render(request, form=form, ticket=ticket, notice=notice)


@extend_schema(
    operation_id="public_track",
    summary="Track a ticket (citizens, no login)",
    parameters=[
        OpenApiParameter("number", {"type": "string", "pattern": r"^[0-9]{8}-[0-9]{6}$"}, required=True, description="工单号 YYYYMMDD-NNNNNN"),
        OpenApiParameter("phone", {"type": "string", "pattern": PHONE_PATTERN}, required=True, description="the phone the ticket was registered with"),
    ],
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def track_api(request: HttpRequest) -> JsonResponse:
    """GET /api/v1/public/track/?number=&phone= — the public timeline as JSON; one "not found" for any mismatch."""
    form = TrackForm(request.GET)
    if not form.is_valid():
        details = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        return JsonResponse(error_body("invalid", _("请提供工单号和联系电话"), details), status=400)
    verdict = _guard(request)
    if not verdict.allowed:
        return rate_limited_json(retry_after=verdict.retry_after)
    ticket = _lookup(request, form.cleaned_data["number"], form.cleaned_data["phone"])
    if ticket is None:
        return JsonResponse(error_body("not_found", _not_found_message()), status=404)
    return JsonResponse(tracking.public_view(ticket).as_json(), json_dumps_params={"ensure_ascii": False})
