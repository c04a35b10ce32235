"""KPIs of the evaluation system (DOMAIN.md), computed from the timeline only.

Each KPI is a ratio of counts of ``TicketEvent`` rows created in the period
(local dates, Asia/Shanghai, both ends included); tickets excluded from
assessment (``kpi_excluded``) are left out. The definitions:

==================  =====================================================================
answer_rate         answered calls ÷ incoming calls (from the telephony room's provider)
first_contact       ``ticket.resolved`` ÷ ``ticket.registered``
on_time_accept      ``ticket.accepted`` with ``on_time`` ÷ ``ticket.dispatched``
on_time_completion  tickets replied on time ÷ tickets due (replied, or red-carded on the
                    handle deadline) in the period, each ticket counted once
return_rate         ``ticket.return_approved`` ÷ ``ticket.dispatched``
satisfaction        callbacks 满意 + 基本满意 ÷ callbacks with a satisfaction answer
reopen_rate         ``ticket.reopened`` ÷ ``ticket.replied``
==================  =====================================================================

Grouped by the department on the event, the ticket's top-level category, the
ticket's district, or the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from routing.models import Area, Category, Department, Ticket, TicketEvent
from routing.states import Satisfaction

DEFINITIONS = {
    "answer_rate": "answered calls ÷ incoming calls",
    "first_contact": "resolved at registration ÷ registered",
    "on_time_accept": "accepted before the accept deadline ÷ dispatched",
    "on_time_completion": "replied before the handle deadline ÷ due (replied or overdue) in the period",
    "return_rate": "returns approved ÷ dispatched",
    "satisfaction": "(满意 + 基本满意) ÷ rated",
    "reopen_rate": "reopened ÷ replied",
}

# metric → (numerator count name, denominator count name)
RATIOS = {
    "first_contact": ("resolved", "registered"),
    "on_time_accept": ("accepted_on_time", "dispatched"),
    "on_time_completion": ("replied_on_time", "due"),
    "return_rate": ("returned", "dispatched"),
    "satisfaction": ("satisfied", "rated"),
    "reopen_rate": ("reopened", "replied"),
}

_SATISFIED = [Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED]
COUNTS = {
    "registered": Count("id", filter=Q(kind="ticket.registered")),
    "resolved": Count("id", filter=Q(kind="ticket.resolved")),
    "dispatched": Count("id", filter=Q(kind="ticket.dispatched")),
    "accepted_on_time": Count("id", filter=Q(kind="ticket.accepted", data__on_time=True)),
    "replied": Count("id", filter=Q(kind="ticket.replied")),
    "replied_on_time": Count("ticket", distinct=True, filter=Q(kind="ticket.replied", data__on_time=True)),
    "due": Count("ticket", distinct=True, filter=Q(kind="ticket.replied") | Q(kind="ticket.card_red", data__deadline="handle")),
    "returned": Count("id", filter=Q(kind="ticket.return_approved")),
    "rated": Count("id", filter=Q(kind="ticket.callback", data__satisfaction__in=[*_SATISFIED, Satisfaction.UNSATISFIED])),
    "satisfied": Count("id", filter=Q(kind="ticket.callback", data__satisfaction__in=_SATISFIED)),
    "reopened": Count("id", filter=Q(kind="ticket.reopened")),
}

# Other rooms add KPIs that are not on the ticket timeline (e.g. the answer
# rate of calls): name → fn(start, end) → (numerator, denominator).
_providers: dict[str, Callable[[dt.datetime, dt.datetime], tuple[int, int]]] = {}


def register_provider(name: str, fn: Callable[[dt.datetime, dt.datetime], tuple[int, int]]) -> None:
    _providers[name] = fn


def _ratio(numerator: int, denominator: int) -> dict:
    return {"value": round(numerator / denominator, 4) if denominator else None, "numerator": numerator, "denominator": denominator}


def _metrics(counts: dict) -> dict:
    return {name: _ratio(counts[num], counts[den]) for name, (num, den) in RATIOS.items()}


def period(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime, dt.date, dt.date]:
    """Aware bounds of a period given as local dates; the default is the last 30 days."""
    today = timezone.localdate()
    end = end or today
    start = start or end - dt.timedelta(days=29)
    lower = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    upper = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    return lower, upper, start, end


def _roots(model, ids) -> dict[int, int]:
    """Map node id → id of its ancestor at level 1 (category) or its district (area)."""
    nodes = model.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path")
    result = {}
    for pk, path in nodes:
        parts = [int(p) for p in path.strip("/").split("/") if p]
        if model is Area:
            # city › district › street › grid: the district is the second level when there is a city.
            result[pk] = parts[1] if len(parts) > 1 else parts[0]
        else:
            result[pk] = parts[0]
    return result


def compute(*, start: dt.date | None = None, end: dt.date | None = None, by: str | None = None) -> dict:
    """The KPI report for a period, in total and grouped ``by`` department, category, area or day."""
    return compute_each(start=start, end=end, groupings=[by or ""])[by or ""]


def compute_each(*, start: dt.date | None = None, end: dt.date | None = None, groupings: list[str]) -> dict[str, dict]:
    """One report per grouping ("" for none) for the same period; the totals are counted once."""
    lower, upper, start, end = period(start, end)
    # Excluded tickets are few: leaving their ids out (a small indexed set) spares the totals a
    # join with every ticket of the city.
    excluded = Ticket.objects.filter(kpi_excluded=True).values("pk")
    events = TicketEvent.objects.filter(created_at__gte=lower, created_at__lt=upper).exclude(ticket_id__in=excluded)
    totals = _metrics(events.aggregate(**COUNTS))
    for name, provider in _providers.items():
        totals[name] = _ratio(*provider(lower, upper))
    return {
        by: {
            "from": start.isoformat(), "to": end.isoformat(), "by": by, "definitions": DEFINITIONS, "totals": totals,
            "groups": _grouped(events, by) if by else [],
        }
        for by in groupings
    }  # fmt: skip


def _grouped(events, by: str) -> list[dict]:
    if by == "department":
        rows = events.values("department_id").annotate(**COUNTS)
        names = dict(Department.objects.values_list("pk", "name"))
        groups = {row["department_id"]: row for row in rows}
        return [
            {"key": key, "label": names.get(key, "—"), "metrics": _metrics(row)} for key, row in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ]
    if by == "day":
        rows = events.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone())).values("day").annotate(**COUNTS).order_by("day")
        return [{"key": row["day"].isoformat(), "label": row["day"].isoformat(), "metrics": _metrics(row)} for row in rows]
    field, model = ("ticket__category_id", Category) if by == "category" else ("ticket__area_id", Area)
    rows = list(events.values(field).annotate(**COUNTS))
    roots = _roots(model, [row[field] for row in rows])
    merged: dict = {}
    for row in rows:
        key = roots.get(row[field])
        bucket = merged.setdefault(key, {name: 0 for name in COUNTS})
        for name in COUNTS:
            bucket[name] += row[name]
    # distinct-ticket counts summed over subgroups stay exact: a ticket has one category and one area.
    names = dict(model.objects.filter(pk__in=[k for k in merged if k]).values_list("pk", "name"))
    return [{"key": key, "label": names.get(key, "—"), "metrics": _metrics(bucket)} for key, bucket in sorted(merged.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))]
