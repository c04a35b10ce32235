"""The workspaces: agent console, dispatcher, department, supervisor dashboard and wallboard.

Each page is rendered whole once; its lists are also served alone as
fragments (``…/queue/``) that the page's script reloads after an action or a
live update, so every list is drawn by one template, escaped by Django.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from frontend import cards, duplicates, hotspots, reference
from frontend.timeline import KIND_LABELS
from frontend.access import role_required
from routing import kpis, selectors
from routing.models import Ticket, TicketEvent
from routing.roles import HOTLINE_ROLES, Role
from routing.states import Channel, State, TicketType, Urgency

QUEUE_LIMIT = 100
CHAT_PANEL = "public/partials/agent_chat.html"


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
        "callbacks": _callback_cards(request.user),
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
    built = cards.build(queue, user)
    registered = [c for c in built if c.ticket.state == State.REGISTERED][:QUEUE_LIMIT]
    similar = duplicates.candidates_for([c.ticket for c in registered])
    for card in registered:
        card.duplicates = similar.get(card.ticket.pk, [])
    return [
        {"key": "registered", "title": _("待派单"), "cards": registered},
        {"key": "returns", "title": _("退单审核"), "cards": [c for c in built if c.ticket.state == State.RETURN_REQUESTED]},
        {"key": "extensions", "title": _("延期审批"), "cards": [c for c in built if c.ticket.state == State.ACCEPTED and c.ticket.extension_pending]},
        {"key": "replies", "title": _("答复审核"), "cards": [c for c in built if c.ticket.state == State.REPLIED]},
    ]


@role_required(Role.DISPATCHER, Role.SUPERVISOR)
def dispatch(request):
    """派单: new tickets with the proposed department, returns, extensions and replies to review."""
    return render(request, "frontend/dispatch.html", {"sections": _dispatch_sections(request.user)})


@role_required(Role.DISPATCHER, Role.SUPERVISOR)
def dispatch_queue(request):
    return render(request, "frontend/partials/dispatch_queue.html", {"sections": _dispatch_sections(request.user)})


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
    return render(request, "frontend/department.html", _department_context(request.user))


@role_required(Role.DEPARTMENT)
def department_queue(request):
    if not request.user.department_id:
        raise PermissionDenied
    return render(request, "frontend/partials/department_queue.html", _department_context(request.user))


# --- supervisor ---------------------------------------------------------------------------
KPI_NAMES = ["first_contact", "on_time_accept", "on_time_completion", "return_rate", "satisfaction", "reopen_rate"]


def _kpi_labels() -> dict[str, str]:
    return {
        "answer_rate": _("接通率"), "first_contact": _("直接办结率"), "on_time_accept": _("按时签收率"),
        "on_time_completion": _("按时办结率"), "return_rate": _("退单率"), "satisfaction": _("满意率"),
        "reopen_rate": _("重办率"),
    }  # fmt: skip


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
    reports = kpis.compute_each(start=start, end=end, groupings=["department", "category", "area", "day"])
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
    }
    return render(request, "frontend/supervisor.html", context)


@role_required(Role.SUPERVISOR)
def supervisor_overdue(request):
    return render(request, "frontend/partials/overdue.html", {"overdue": _overdue_cards(request.user)})


def _wall_context(user) -> dict:
    now = timezone.now()
    counts = selectors.city_counts(now=now)
    totals = kpis.compute()["totals"]
    labels = _kpi_labels()
    recent = TicketEvent.objects.filter(kind__in=["ticket.registered", "ticket.dispatched", "ticket.replied", "ticket.closed", "ticket.card_red"]).select_related("ticket", "department").order_by("-created_at", "-id")[:12]
    return {
        "now": now,
        "counts": counts,
        "rates": [(labels[name], totals[name]["value"]) for name in ("first_contact", "on_time_completion", "satisfaction")],
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
