"""KPIs of the evaluation system (DOMAIN.md), computed from the timeline only.

Each KPI is a ratio of counts of ``TicketEvent`` rows created in the period
(local dates, Asia/Shanghai, both ends included); tickets excluded from
assessment (``kpi_excluded``) are left out, and so is each single event excluded
(``KpiExclusion``: an unreasonable rating, or a rating or red card whose appeal
was upheld); every report says what it left out (``excluded``). The definitions:

==================  =====================================================================
answer_rate         answered calls ÷ incoming calls (from the telephony room's provider)
answered_15s        calls answered within 15 s in the queue ÷ calls that asked for a person
                    (GB/T 33358; telephony's provider)
sms_answered_3min   inbound SMS answered ÷ inbound SMS (GB/T 33358: within 3 minutes; telephony's)
chat_answered_3min  chats an agent answered within 3 minutes ÷ chats (the public desk's provider)
first_contact       ``ticket.resolved`` ÷ ``ticket.registered``
on_time_accept      ``ticket.accepted`` with ``on_time`` ÷ ``ticket.dispatched``
on_time_completion  handling rounds settled by an on-time reply ÷ handling rounds settled.
                    A round runs from a dispatch (or a reopen) to its first reply, and is
                    settled once: by that reply, or by the red card of its handle deadline
                    if the card came first (events with ``settles``). A reply sent back by
                    review, or a late reply after the red card, settles nothing again.
return_rate         ``ticket.return_approved`` ÷ ``ticket.dispatched``
satisfaction        callbacks 满意 + 基本满意 ÷ callbacks with a satisfaction answer
full_satisfaction   callbacks 满意 ÷ callbacks with a satisfaction answer (the top tier alone)
reopen_rate         ``ticket.reopened`` ÷ ``ticket.replied``
==================  =====================================================================

Grouped by the department on the event, the ticket's top-level category, the
ticket's district, the ticket's type (分类评价: satisfaction per type, in its three
tiers: ``routing.ratings``), or the day. Every count is additive (a count of events, never
of distinct tickets), so a period is the sum of its days.

**Roll-ups.** Counting a city's timeline on every view does not scale (a month is
~650,000 events at a million tickets a year), so the worker keeps ``KpiDay``:
each day that is over gets its counts per department × top-level category ×
district, written once (``roll_up``). A report sums the rolled days and counts
only the days not rolled yet (today, or every day when no worker ran) from the
events, then takes away what excluded tickets and events contributed to the rolled days,
so exclusions apply at once and the figures are the same either way (the tests
compare both). A ticket's category and area are set at registration and never
change, and events are only appended, so a rolled day stays true.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from routing.models import Area, Category, Department, KpiDay, KpiExclusion, KpiRolledDay, KpiSubject, Ticket, TicketEvent, path_ids
from routing.states import EventKind, Satisfaction, TicketType

log = logging.getLogger(__name__)

DEFINITIONS = {
    "answer_rate": "answered calls ÷ incoming calls",
    "answered_15s": "calls answered within 15 s of waiting ÷ calls that asked for a person (GB/T 33358)",
    "sms_answered_3min": "inbound SMS answered within 3 minutes ÷ inbound SMS (GB/T 33358)",
    "chat_answered_3min": "chats an agent answered within 3 minutes of the citizen's first message ÷ chats (GB/T 33358)",
    "first_contact": "resolved at registration ÷ registered",
    "on_time_accept": "accepted before the accept deadline ÷ dispatched",
    "on_time_completion": "handling rounds replied before the handle deadline ÷ handling rounds settled (first reply, or red card) in the period",
    "return_rate": "returns approved ÷ dispatched",
    "satisfaction": "(满意 + 基本满意) ÷ rated",
    "full_satisfaction": "满意 ÷ rated",
    "reopen_rate": "reopened ÷ replied",
}

# What each KPI is called on the pages and in the exports (one place).
LABELS = {
    "answer_rate": _("接通率"), "first_contact": _("直接办结率"), "on_time_accept": _("按时签收率"),
    "on_time_completion": _("按时办结率"), "return_rate": _("退单率"), "satisfaction": _("满意率"),
    "reopen_rate": _("重办率"), "answered_15s": _("15秒接通率"), "sms_answered_3min": _("短信3分钟回复率"),
    "chat_answered_3min": _("在线咨询3分钟响应率"), "full_satisfaction": _("非常满意率"),
}  # fmt: skip

# metric → (numerator count name, denominator count name)
RATIOS = {
    "first_contact": ("resolved", "registered"),
    "on_time_accept": ("accepted_on_time", "dispatched"),
    "on_time_completion": ("replied_on_time", "due"),
    "return_rate": ("returned", "dispatched"),
    "satisfaction": ("satisfied", "rated"),
    "full_satisfaction": ("fully_satisfied", "rated"),
    "reopen_rate": ("reopened", "replied"),
}

_SATISFIED = [Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED]
_SETTLES = Q(data__settles=True)
# Counts of events; each is a column of KpiDay.
COUNTS = {
    "registered": Count("id", filter=Q(kind=EventKind.REGISTERED)),
    "resolved": Count("id", filter=Q(kind=EventKind.RESOLVED)),
    "dispatched": Count("id", filter=Q(kind=EventKind.DISPATCHED)),
    "accepted_on_time": Count("id", filter=Q(kind=EventKind.ACCEPTED, data__on_time=True)),
    "replied": Count("id", filter=Q(kind=EventKind.REPLIED)),
    "replied_on_time": Count("id", filter=Q(kind=EventKind.REPLIED, data__on_time=True) & _SETTLES),
    "due": Count("id", filter=Q(kind__in=[EventKind.REPLIED, EventKind.CARD_RED]) & _SETTLES),
    "returned": Count("id", filter=Q(kind=EventKind.RETURN_APPROVED)),
    "rated": Count("id", filter=Q(kind=EventKind.CALLBACK, data__satisfaction__in=[*_SATISFIED, Satisfaction.UNSATISFIED])),
    "satisfied": Count("id", filter=Q(kind=EventKind.CALLBACK, data__satisfaction__in=_SATISFIED)),
    "fully_satisfied": Count("id", filter=Q(kind=EventKind.CALLBACK, data__satisfaction=Satisfaction.SATISFIED)),
    "reopened": Count("id", filter=Q(kind=EventKind.REOPENED)),
}
# The kinds any count looks at: the others (notes, urges, cards but red ones…) are never read.
_COUNTED_KINDS = sorted(
    {
        EventKind.REGISTERED, EventKind.RESOLVED, EventKind.DISPATCHED, EventKind.ACCEPTED, EventKind.REPLIED, EventKind.CARD_RED,
        EventKind.RETURN_APPROVED, EventKind.CALLBACK, EventKind.REOPENED,
    }
)  # fmt: skip

# grouping → the KpiDay column it sums by, and that key's place in a cell ("" is the totals)
_GROUPED_BY = {
    "": (None, None), "day": ("day", 0), "department": ("department_id", 1), "category": ("category_id", 2), "area": ("district_id", 3),
    "type": ("type", 4),
}  # fmt: skip
GROUPINGS = ("department", "category", "area", "type", "day")

# A day is rolled up this long after it ends, so that a transaction begun before midnight
# has committed its events.
SETTLE_MARGIN = dt.timedelta(minutes=15)

# Other rooms add KPIs that are not on the ticket timeline (e.g. the answer
# rate of calls): name → fn(start, end) → (numerator, denominator).
_providers: dict[str, Callable[[dt.datetime, dt.datetime], tuple[int, int]]] = {}


def register_provider(name: str, fn: Callable[[dt.datetime, dt.datetime], tuple[int, int]]) -> None:
    _providers[name] = fn


def _ratio(numerator: int, denominator: int) -> dict:
    return {"value": round(numerator / denominator, 4) if denominator else None, "numerator": numerator, "denominator": denominator}


def _metrics(counts: dict) -> dict:
    return {name: _ratio(counts.get(num, 0), counts.get(den, 0)) for name, (num, den) in RATIOS.items()}


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The aware start of a local day and of the next one."""
    lower = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return lower, timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def period(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime, dt.date, dt.date]:
    """Aware bounds of a period given as local dates; the default is the last 30 days."""
    today = timezone.localdate()
    end = end or today
    start = start or end - dt.timedelta(days=29)
    return _bounds(start)[0], _bounds(end)[1], start, end


# --- cells: the counts of one day × department × top-level category × district × type -----
Cell = tuple[dt.date, int | None, int | None, int | None, str]


def _roots(model, ids) -> dict[int, int]:
    """Map node id → id of its ancestor at level 1 (category) or its district (area)."""
    nodes = model.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path")
    result = {}
    for pk, path in nodes:
        parts = path_ids(path)
        if model is Area:
            # city › district › street › grid: the district is the second level when there is a city.
            result[pk] = parts[1] if len(parts) > 1 else parts[0]
        else:
            result[pk] = parts[0]
    return result


def _cells(events: QuerySet) -> dict[Cell, Counter]:
    """Count ``events`` per cell, in one grouped query."""
    rows = list(
        events.filter(kind__in=_COUNTED_KINDS)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "department_id", "ticket__category_id", "ticket__area_id", "ticket__type")
        .annotate(**COUNTS)
        .order_by()
    )
    categories = _roots(Category, {row["ticket__category_id"] for row in rows})
    districts = _roots(Area, {row["ticket__area_id"] for row in rows})
    cells: dict[Cell, Counter] = {}
    for row in rows:
        key = (row["day"], row["department_id"], categories.get(row["ticket__category_id"]), districts.get(row["ticket__area_id"]), row["ticket__type"] or "")
        cells.setdefault(key, Counter()).update({name: row[name] for name in COUNTS})
    return cells


def _fold(cells: dict[Cell, Counter], by: str) -> dict:
    """Sum cells by a grouping's key (one total for "")."""
    position = _GROUPED_BY[by][1]
    folded: dict = {}
    for key, counts in cells.items():
        folded.setdefault(None if position is None else key[position], Counter()).update(counts)
    return folded


def _days_in(lower: dt.date, upper: dt.date) -> Iterable[dt.date]:
    day = lower
    while day <= upper:
        yield day
        day += dt.timedelta(days=1)


def _events_on(days: list[dt.date]) -> QuerySet:
    """Events of the given local days, as few ranges as the days allow."""
    ranges: list[list[dt.date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + dt.timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    condition = Q()
    for first, last in ranges:
        condition |= Q(created_at__gte=_bounds(first)[0], created_at__lt=_bounds(last)[1])
    return TicketEvent.objects.filter(condition) if ranges else TicketEvent.objects.none()


# --- reading --------------------------------------------------------------------------
def compute(*, start: dt.date | None = None, end: dt.date | None = None, by: str | None = None) -> dict:
    """The KPI report for a period, in total and grouped ``by`` department, category, area or day."""
    return compute_each(start=start, end=end, groupings=[by or ""])[by or ""]


def compute_each(*, start: dt.date | None = None, end: dt.date | None = None, groupings: list[str]) -> dict[str, dict]:
    """One report per grouping ("" for none) for the same period; the totals are counted once."""
    lower, upper, start, end = period(start, end)
    rolled = sorted(KpiRolledDay.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True))
    live = sorted(set(_days_in(start, end)) - set(rolled))
    # Excluded tickets and excluded events (a rating, a red card) are few: their events are
    # counted apart, left out of the live days and taken away from the rolled ones.
    left_out = _left_out()
    live_cells = _cells(_events_on(live).exclude(left_out)) if live else {}
    excluded_cells = _cells(_events_on(rolled).filter(left_out)) if rolled else {}
    rolled_days = KpiDay.objects.filter(day__in=rolled)

    def counted(by: str) -> dict:
        column = _GROUPED_BY[by][0]
        sums = {name: Sum(name) for name in COUNTS}
        if column is None:
            folded = {None: Counter({n: v or 0 for n, v in rolled_days.aggregate(**sums).items()})} if rolled else {}
        else:
            folded = {row[column]: Counter({n: row[n] for n in COUNTS}) for row in rolled_days.values(column).annotate(**sums).order_by()}
        for key, counts in _fold(live_cells, by).items():
            folded.setdefault(key, Counter()).update(counts)
        for key, counts in _fold(excluded_cells, by).items():
            folded.setdefault(key, Counter()).subtract(counts)
        return folded

    totals = _metrics(counted("").get(None, Counter()))
    for name, provider in _providers.items():
        totals[name] = _ratio(*provider(lower, upper))
    excluded = excluded_in(lower, upper)
    return {
        by: {
            "from": start.isoformat(), "to": end.isoformat(), "by": by, "definitions": DEFINITIONS, "totals": totals,
            "excluded": excluded, "groups": _groups(counted(by), by) if by else [],
        }
        for by in groupings
    }  # fmt: skip


def _left_out() -> Q:
    """The events no KPI counts: those of a ticket excluded from assessment, and single events
    (a rating, a red card) excluded by a supervisor or by an upheld appeal (``KpiExclusion``)."""
    return Q(ticket_id__in=Ticket.objects.filter(kpi_excluded=True).values("pk")) | Q(pk__in=KpiExclusion.objects.values("event_id"))


def excluded_in(lower: dt.datetime, upper: dt.datetime) -> dict:
    """What the KPIs of a period leave out: excluded tickets with a counted event in it, and the
    excluded ratings and red cards given in it (a report says so next to its figures)."""
    in_period = Q(created_at__gte=lower, created_at__lt=upper)
    tickets = (
        TicketEvent.objects.filter(in_period, kind__in=_COUNTED_KINDS, ticket_id__in=Ticket.objects.filter(kpi_excluded=True).values("pk"))
        .values("ticket_id").distinct().count()
    )  # fmt: skip
    subjects = dict(
        KpiExclusion.objects.filter(event__created_at__gte=lower, event__created_at__lt=upper).values_list("subject").annotate(n=Count("id")).order_by()
    )
    return {"tickets": tickets, "ratings": subjects.get(KpiSubject.RATING, 0), "red_cards": subjects.get(KpiSubject.RED_CARD, 0)}


def _groups(folded: dict, by: str) -> list[dict]:
    folded = {key: counts for key, counts in folded.items() if any(counts.values())}
    if by == "day":
        return [{"key": day.isoformat(), "label": day.isoformat(), "metrics": _metrics(counts)} for day, counts in sorted(folded.items())]
    if by == "type":
        order = {value: n for n, value in enumerate(TicketType.values)}
        labels = dict(TicketType.choices)
        ordered = sorted(folded.items(), key=lambda kv: order.get(kv[0], len(order)))
        return [{"key": key, "label": str(labels.get(key, "—")), "metrics": _metrics(counts)} for key, counts in ordered]
    model = {"department": Department, "category": Category, "area": Area}[by]
    names = dict(model.objects.filter(pk__in=[k for k in folded if k]).values_list("pk", "name"))
    ordered = sorted(folded.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    return [{"key": key, "label": names.get(key, "—"), "metrics": _metrics(counts)} for key, counts in ordered]


# --- rolling up -------------------------------------------------------------------------
def roll_up_day(day: dt.date) -> bool:
    """Write the ``KpiDay`` rows of one day that is over; False if they were already written.

    Safe with several workers: the day's ``KpiRolledDay`` row is inserted first in the
    transaction, so a second worker waits for the first and then finds it.
    """
    if timezone.now() < _bounds(day)[1] + SETTLE_MARGIN:
        raise ValueError(f"{day} is not over yet")
    try:
        with transaction.atomic():
            KpiRolledDay.objects.create(day=day)
            cells = _cells(_events_on([day]))
            KpiDay.objects.bulk_create(
                KpiDay(day=key[0], department_id=key[1], category_id=key[2], district_id=key[3], type=key[4], **counts) for key, counts in cells.items()
            )
    except IntegrityError:
        return False  # another worker rolled it
    return True


def roll_up(*, limit: int = 62) -> int:
    """Roll up the days that are over and not rolled yet, oldest first, at most ``limit`` per call.

    Run by the worker every ``KPI_ROLLUP_SECONDS``; the first runs on an existing
    timeline catch up ``limit`` days at a time.
    """
    first = TicketEvent.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return 0
    last = timezone.localdate(timezone.now() - SETTLE_MARGIN) - dt.timedelta(days=1)
    done = set(KpiRolledDay.objects.filter(day__gte=timezone.localdate(first)).values_list("day", flat=True))
    rolled = 0
    for day in _days_in(timezone.localdate(first), last):
        if rolled >= limit:
            break
        if day not in done and roll_up_day(day):
            rolled += 1
    if rolled:
        log.info("kpis: rolled up %d day(s)", rolled)
    return rolled


def forget_roll_ups() -> int:
    """Delete every roll-up (e.g. after a change of definitions); the next runs rebuild them."""
    with transaction.atomic():
        KpiDay.objects.all().delete()
        deleted, _ = KpiRolledDay.objects.all().delete()
    return deleted
