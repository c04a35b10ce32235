"""The workspaces: agent console, dispatcher, department, supervisor dashboard and wallboard.

Each page is rendered whole once; its lists are also served alone as
fragments (``…/queue/``) that the page's script reloads after an action or a
live update, so every list is drawn by one template, escaped by Django.
"""

from __future__ import annotations

import datetime as dt
import uuid

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from frontend import cards, hotspots, reference, replyreview
from frontend.timeline import KIND_LABELS
from frontend.access import role_required
from routing import disputes, hotissues, kpis, linkage, ratings, repeats, reviews, selectors
from routing.errors import DomainError
from routing.models import KpiAppeal, Ticket, TicketEvent
from routing.roles import HOTLINE_ROLES, Role
from routing.states import Channel, EventKind, State, TicketType, Urgency

QUEUE_LIMIT = 100
REPEATS_LIMIT = 30  # the first cards of the dispatch queue are checked for repeats
CHAT_PANEL = "public/partials/agent_chat.html"
MISSED_CALLS_PANEL = "telephony/partials/missed_calls.html"  # 漏接回拨, offered by the telephony room


def _has_template(name: str) -> bool:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return False
    return True


# --- agent console ------------------------------------------------------------------
@role_required(*HOTLINE_ROLES)
def console(request):
    """话务员工作台: screen pop, live chat, registration with knowledge suggestions, callbacks."""
    context = {
        "channels": [(v, l) for v, l in Channel.choices if v in {Channel.PHONE, Channel.CHAT, Channel.WALK_IN, Channel.SMS}],
        "types": TicketType.choices,
        "urgencies": Urgency.choices,
        "category_tree": reference.category_tree(),
        "area_tree": reference.area_tree(),
        "form_token": uuid.uuid4().hex,
        "chat_panel": CHAT_PANEL if _has_template(CHAT_PANEL) else None,
        "missed_calls_panel": MISSED_CALLS_PANEL if _has_template(MISSED_CALLS_PANEL) else None,
        "callbacks": _callback_cards(request.user),
        "lines": list(linkage.active_lines()),  # 移交: the transfer list, with what each line takes
    }
    return render(request, "frontend/console.html", context)


def _callback_cards(user):
    tickets = selectors.callback_queue()[:QUEUE_LIMIT]
    return cards.build(tickets, user, only={"callback", "reopen", "close"})


@role_required(*HOTLINE_ROLES)
def console_callbacks(request):
    """Fragment: the callback queue (回访)."""
    return render(request, "frontend/partials/callbacks.html", {"callbacks": _callback_cards(request.user)})


# --- dispatcher -----------------------------------------------------------------------
def _dispatch_sections(user) -> list[dict]:
    queue = list(selectors.dispatcher_queue()[: QUEUE_LIMIT * 2])
    pending = disputes.pending_for(t.pk for t in queue if t.state == State.RETURN_REQUESTED)
    for ticket in queue:
        ticket.pending_dispute = pending.get(ticket.pk)  # shown on the 退单审核 card; its suggestion preselects 改派
    built = cards.build(queue, user)
    registered = [c for c in built if c.ticket.state == State.REGISTERED][:QUEUE_LIMIT]
    for card in registered[:REPEATS_LIMIT]:
        found = repeats.for_ticket(card.ticket, limit=3)
        card.duplicates = [("same_caller", r) for r in found.same_caller] + [("similar", r) for r in found.similar]
    replies = [c for c in built if c.ticket.state == State.REPLIED]
    found = reviews.current(c.ticket.pk for c in replies)
    for card in replies:
        card.review = replyreview.view(found.get(card.ticket.pk), card.ticket)
    returns = [c for c in built if c.ticket.state == State.RETURN_REQUESTED]
    return [
        {"key": "registered", "title": _("待派单"), "cards": registered},
        {"key": "returns", "title": _("退单审核"), "cards": returns},
        {"key": "extensions", "title": _("延期审批"), "cards": [c for c in built if c.ticket.state == State.ACCEPTED and c.ticket.extension_pending]},
        {"key": "replies", "title": _("答复审核"), "cards": replies},
    ]


@role_required(Role.DISPATCHER, Role.SUPERVISOR)
def dispatch(request):
    """派单: new tickets with the proposed department, returns, extensions and replies to review."""
    return render(request, "frontend/dispatch.html", {"sections": _dispatch_sections(request.user)})


@role_required(Role.DISPATCHER, Role.SUPERVISOR)
def dispatch_queue(request):
    return render(request, "frontend/partials/dispatch_queue.html", {"sections": _dispatch_sections(request.user)})


# --- ticket search ----------------------------------------------------------------------
SEARCH_PAGE_SIZE = 20


@role_required(*HOTLINE_ROLES, Role.DEPARTMENT)
def ticket_search(request):
    """工单查询: the tickets this user may see, by number (or its beginning), caller's phone (hotline roles)
    or words, optionally in one state; the very list of the API (``selectors.filtered_list``)."""
    q = (request.GET.get("q") or "").strip()[:200]
    state = request.GET.get("state") or ""
    context = {"q": q, "state": state, "states": State.choices, "page": None, "error": ""}
    if q:
        try:
            found = selectors.filtered_list(request.user, {"q": q, "state": state if state in State.values else ""})
            paginator = Paginator(found, SEARCH_PAGE_SIZE)
            page = paginator.get_page(request.GET.get("page"))
            context.update(page=page, exact=found.search_exact, query_string=urlencode({"q": q, "state": state}))
        except DomainError as exc:  # the search engine is down (503), or the words are too long
            context["error"] = exc.message
    return render(request, "frontend/ticket_search.html", context)


# --- department -------------------------------------------------------------------------
def _department_context(user) -> dict:
    queue = selectors.department_queue(user.department_id)
    now = timezone.now()
    # Totals over the whole queue, not just the cards shown: one query.
    counts = queue.totals(red=Q(due_at__lt=now), yellow=Q(warn_at__lte=now, due_at__gte=now), to_accept=Q(state=State.DISPATCHED))
    return {"cards": cards.build(queue[:QUEUE_LIMIT], user, with_timeline=True), "counts": counts}


@role_required(Role.DEPARTMENT)
def department(request):
    """承办单位: the department's queue by deadline with yellow and red cards; updates live."""
    if not request.user.department_id:
        raise PermissionDenied
    context = {**_department_context(request.user), "appeals": ratings.appeals_for(department_id=request.user.department_id, limit=10)}
    return render(request, "frontend/department.html", context)


@role_required(Role.DEPARTMENT)
def department_queue(request):
    if not request.user.department_id:
        raise PermissionDenied
    return render(request, "frontend/partials/department_queue.html", _department_context(request.user))


# --- supervisor ---------------------------------------------------------------------------
KPI_NAMES = ["first_contact", "on_time_accept", "on_time_completion", "return_rate", "satisfaction", "reopen_rate"]


def _kpi_labels() -> dict[str, str]:
    return {name: str(label) for name, label in kpis.LABELS.items()}


def _date_param(request, name: str) -> dt.date | None:
    try:
        return parse_date((request.GET.get(name) or "")[:10])
    except ValueError:  # well-formed but impossible, e.g. 2025-02-30
        return None


def _period(request) -> tuple[dt.date | None, dt.date | None]:
    start, end = _date_param(request, "from"), _date_param(request, "to")
    if start and end and start > end:
        start, end = end, start
    return start, end


def _overdue_cards(user, limit: int = QUEUE_LIMIT):
    return cards.build(selectors.overdue()[:limit], user, only={"urge", "supervise"})


def _charts(report_by: dict[str, dict]) -> dict:
    """The series the dashboard's charts draw, as plain numbers (percentages) per group."""
    series = {}
    for by, report in report_by.items():
        series[by] = {
            "labels": [g["label"] for g in report["groups"]],
            "metrics": {name: [None if g["metrics"][name]["value"] is None else round(g["metrics"][name]["value"] * 100, 1) for g in report["groups"]] for name in KPI_NAMES},
            "volume": [g["metrics"]["first_contact"]["denominator"] for g in report["groups"]],
        }
    return series


@role_required(Role.SUPERVISOR)
def supervisor(request):
    """督办 / 指挥中心: KPIs as charts, the overdue list with urge and supervise, hot spots."""
    start, end = _period(request)
    reports = kpis.compute_each(start=start, end=end, groupings=["department", "category", "area", "day", "type"])
    by_type = reports.pop("type")
    totals = reports["department"]["totals"]
    labels = _kpi_labels()
    context = {
        "period": reports["department"],
        "tiles": [{"name": name, "label": labels[name], **value} for name, value in totals.items()],
        "tables": [(by, reports[by]) for by in ("department", "category", "area", "day")],
        "kpi_names": KPI_NAMES,
        "kpi_labels": labels,
        "charts": {"series": _charts(reports), "labels": {name: labels[name] for name in KPI_NAMES}},
        "overdue": _overdue_cards(request.user),
        "hotspots": hotspots.rising(),
        "reply_quality": reviews.quality(*kpis.period(start, end)[:2]),
        "disputes": disputes.report(*kpis.period(start, end)[:2], limit=20),
        "ratings": ratings.report(start, end, limit=20, by_type=by_type),
        "pending_appeals": ratings.appeals_for(outcome=KpiAppeal.Outcome.PENDING, limit=20),
    }
    return render(request, "frontend/supervisor.html", context)


def _sparkline(trend: list[tuple[str, int]], *, width: int = 140, height: int = 28) -> dict:
    """Points of an inline SVG polyline for a daily trend (drawn on the server: no chart library, no CDN)."""
    peak = max((n for _day, n in trend), default=0) or 1
    step = width / max(len(trend) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (n / peak) * (height - 4):.1f}" for i, (_day, n) in enumerate(trend))
    return {"points": points, "width": width, "height": height, "peak": peak, "first": trend[0][0] if trend else "", "last": trend[-1][0] if trend else ""}


@role_required(Role.SUPERVISOR, Role.DISPATCHER)
def hot_issues(request):
    """热点问题: tickets about one problem, hottest first, each with its trend and its members."""
    today = timezone.localdate()
    start_day, end_day = _period(request)
    end_day = end_day or today
    start_day = start_day or end_day - hotissues.DEFAULT_PERIOD
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(start_day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(end_day, dt.time.max, tzinfo=tz)
    issues = [(item, _sparkline(item.trend)) for item in hotissues.ranked(start=start, end=end, limit=30)]
    context = {"issues": issues, "period": {"from": start_day.isoformat(), "to": end_day.isoformat()}}
    return render(request, "frontend/hot_issues.html", context)


@role_required(Role.SUPERVISOR)
def supervisor_overdue(request):
    return render(request, "frontend/partials/overdue.html", {"overdue": _overdue_cards(request.user)})


WALL_RATES = ("first_contact", "on_time_completion", "satisfaction", "answer_rate", "answered_15s", "chat_answered_3min")


def _wall_context(user) -> dict:
    now = timezone.now()
    counts = selectors.city_counts(now=now)
    totals = kpis.compute()["totals"]
    labels = _kpi_labels()
    recent = TicketEvent.objects.filter(kind__in=[EventKind.REGISTERED, EventKind.DISPATCHED, EventKind.REPLIED, EventKind.CLOSED, EventKind.CARD_RED]).select_related("ticket", "department").order_by("-created_at", "-id")[:12]
    return {
        "now": now,
        "counts": counts,
        # the ticket loop's rates, then the lines' (GB/T 33358), when their rooms provide them
        "rates": [(labels[name], totals[name]["value"]) for name in WALL_RATES if name in totals],
        "hotspots": hotspots.rising(limit=5),
        "overdue": list(selectors.overdue()[:10]),
        "recent": [(e, str(KIND_LABELS.get(e.kind, e.kind))) for e in recent],
    }


@role_required(Role.SUPERVISOR)
def supervisor_wall(request):
    """大屏: the numbers of the day, hot spots and overdue tickets, updating live."""
    return render(request, "frontend/wall.html", _wall_context(request.user))


@role_required(Role.SUPERVISOR)
def supervisor_wall_live(request):
    return render(request, "frontend/partials/wall_live.html", _wall_context(request.user))
