"""分档分类评价: satisfaction per ticket type in its three tiers, and the fair-assessment steps around it.

- A supervisor leaves one unreasonable rating (恶意差评, a demand outside the law or policy…) or
  one red card out of the KPIs, with a reason (``routing.actions.exclude_from_assessment``).
- A department appeals (复核申诉) an unsatisfied rating or a red card of its own within
  ``deadlines.APPEAL_WINDOW`` (``actions.file_appeal``); a supervisor upholds it, and the event
  leaves the KPIs, or rejects it, within ``deadlines.APPEAL_DECISION`` (``actions.decide_appeal``).

Each step is one event on the ticket's timeline; the event rated or carded stays on it. What is
left out is a ``KpiExclusion`` row, which ``routing.kpis`` leaves out of every count (rolled days
too) and reports as ``excluded``. A red card can be appealed when it settled a handling round
(it is what counts against 按时办结率); a rating when it was 不满意 (what counts against 满意率).
This module finds the event a step is about, and reports the period.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import deadlines, kpis
from routing.errors import InvalidInput, TransitionConflict
from routing.models import KpiAppeal, KpiExclusion, KpiSubject, Ticket, TicketEvent
from routing.states import EventKind, Satisfaction

Subject = KpiSubject
Outcome = KpiAppeal.Outcome

# The events a supervisor may leave out, and those a department may appeal.
_RATED = Q(kind=EventKind.CALLBACK, data__satisfaction__in=list(Satisfaction.values))
_SETTLING_RED_CARD = Q(kind=EventKind.CARD_RED, data__settles=True)
EXCLUDABLE = {Subject.RATING: _RATED, Subject.RED_CARD: _SETTLING_RED_CARD}
APPEALABLE = {Subject.RATING: Q(kind=EventKind.CALLBACK, data__satisfaction=Satisfaction.UNSATISFIED), Subject.RED_CARD: _SETTLING_RED_CARD}

# The event each step writes.
EXCLUDED_KIND = {Subject.RATING: EventKind.RATING_EXCLUDED, Subject.RED_CARD: EventKind.CARD_EXCLUDED}
DECIDED_KIND = {True: EventKind.APPEAL_UPHELD, False: EventKind.APPEAL_REJECTED}


def subject_of(value) -> str:
    if value not in Subject.values:
        choices = ", ".join(Subject.values)
        raise InvalidInput(_("申诉或剔除的类型无效"), details={"subject": [_("可选：%(v)s") % {"v": choices}]})
    return value


def target(ticket: Ticket, subject: str, *, event_id: int | None = None, appealable: bool) -> TicketEvent:
    """The rating or red card of ``ticket`` a step is about: ``event_id`` if given, else the latest one
    not yet left out. 409 when the ticket has none (or ``event_id`` is not one of them)."""
    condition = (APPEALABLE if appealable else EXCLUDABLE)[subject]
    events = TicketEvent.objects.filter(condition, ticket=ticket).select_related("department")
    if event_id is not None:
        event = events.filter(pk=event_id).first()
    else:
        event = events.filter(kpi_exclusion__isnull=True).order_by("-created_at", "-id").first()
    if event is None:
        if subject == Subject.RATING:
            message = _("该工单没有可申诉的不满意评价") if appealable else _("该工单没有满意度评价")
        else:
            message = _("该工单没有计入按时办结考核的红牌")
        raise TransitionConflict(message, code="nothing_to_review", details={"subject": subject, "event": event_id})
    return event


def open_item(ticket: Ticket, subject: str, *, appealable: bool, department_id: int | None = None) -> TicketEvent | None:
    """The latest rating or red card of ``ticket`` that may still be left out (by a supervisor: not left
    out yet, no appeal waiting) or appealed (by ``department_id``: its own, never appealed, within the
    window); None when there is none. The pages offer their forms from this."""
    condition = (APPEALABLE if appealable else EXCLUDABLE)[subject]
    events = TicketEvent.objects.filter(condition, ticket=ticket, kpi_exclusion__isnull=True)
    if appealable:
        events = events.filter(appeal__isnull=True, department_id=department_id)
    else:
        events = events.exclude(appeal__outcome=Outcome.PENDING)
    event = events.select_related("department").order_by("-created_at", "-id").first()
    if event is not None and appealable and timezone.now() > deadlines.appeal_until(event.created_at):
        return None
    return event


def describe(event: TicketEvent) -> str:
    """The rating or red card in a few words, for a page or an export."""
    if event.kind == EventKind.CALLBACK:
        label = dict(Satisfaction.choices).get(event.data.get("satisfaction"), "")
        return _("回访评价「%(s)s」") % {"s": label}
    return _("红牌超期（办结时限）") if event.data.get("deadline") == "handle" else _("红牌超期（签收时限）")


def appeals_for(*, department_id: int | None = None, outcome: str = "", limit: int = 200) -> list[KpiAppeal]:
    """Appeals, the most urgent first (pending by deadline), of one department or of all."""
    found = KpiAppeal.objects.select_related("ticket", "event", "department", "filed_by", "decided_by")
    if department_id is not None:
        found = found.filter(department_id=department_id)
    if outcome:
        found = found.filter(outcome=outcome)
    pending = found.filter(outcome=Outcome.PENDING).order_by("decide_due", "id")
    decided = found.exclude(outcome=Outcome.PENDING).order_by("-decided_at", "-id")
    if outcome:  # one outcome: one of the two lists
        return list((pending if outcome == Outcome.PENDING else decided)[:limit])
    first = list(pending[:limit])
    return first + list(decided[: limit - len(first)])


def for_ticket(ticket: Ticket) -> tuple[list[KpiAppeal], list[KpiExclusion]]:
    appeals = list(KpiAppeal.objects.filter(ticket=ticket).select_related("event", "department").order_by("filed_at", "id"))
    exclusions = list(KpiExclusion.objects.filter(ticket=ticket).select_related("event").order_by("created_at", "id"))
    return appeals, exclusions


# --- the report -----------------------------------------------------------------------------
def _tiers(metrics: dict) -> dict:
    rated = metrics["satisfaction"]["denominator"]
    satisfied = metrics["satisfaction"]["numerator"]
    full = metrics["full_satisfaction"]["numerator"]
    return {
        "rated": rated, "satisfied": full, "basically_satisfied": satisfied - full, "unsatisfied": rated - satisfied,
        "satisfaction": metrics["satisfaction"]["value"], "full_satisfaction": metrics["full_satisfaction"]["value"],
    }  # fmt: skip


def report(start: dt.date | None = None, end: dt.date | None = None, *, limit: int = 50, by_type: dict | None = None) -> dict:
    """The period's ratings per ticket type in three tiers (满意 / 基本满意 / 不满意), after exclusions;
    what was left out and why; the appeals filed in it per department. ``by_type``: the period's
    ``kpis.compute(by="type")`` when the caller has it already."""
    kpi = by_type or kpis.compute(start=start, end=end, by="type")
    lower, upper, first, last = kpis.period(start, end)
    types = [{"type": g["key"], "label": g["label"], **_tiers(g["metrics"])} for g in kpi["groups"] if g["metrics"]["satisfaction"]["denominator"]]
    filed = KpiAppeal.objects.filter(filed_at__gte=lower, filed_at__lt=upper)
    now = timezone.now()
    late = Q(outcome=Outcome.PENDING, decide_due__lt=now) | Q(decided_at__gt=F("decide_due"))
    counts = dict(
        total=Count("id"), upheld=Count("id", filter=Q(outcome=Outcome.UPHELD)), rejected=Count("id", filter=Q(outcome=Outcome.REJECTED)),
        pending=Count("id", filter=Q(outcome=Outcome.PENDING)), late=Count("id", filter=late),
    )  # fmt: skip
    departments = [
        {"department": row["department_id"], "name": row["department__name"], **{k: row[k] for k in counts}}
        for row in filed.values("department_id", "department__name").annotate(**counts).order_by("-total", "department__name")
    ]
    exclusions = KpiExclusion.objects.filter(event__created_at__gte=lower, event__created_at__lt=upper).select_related(
        "ticket", "event__department", "decided_by", "appeal"
    )
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "totals": _tiers(kpi["totals"]), "types": types, "excluded": kpi["excluded"],
        "appeals": {**filed.aggregate(**counts), "departments": departments},
        "exclusions": [
            {
                "number": x.ticket.number, "subject": x.subject, "subject_label": x.get_subject_display(), "what": describe(x.event),
                "department": x.event.department.name if x.event.department_id else "", "reason": x.reason,
                "by_appeal": x.appeal_id is not None, "decided_by": x.decided_by.get_username() if x.decided_by_id else "",
                "at": x.created_at,
            }
            for x in exclusions.order_by("-created_at", "-id")[:limit]
        ],
    }  # fmt: skip
