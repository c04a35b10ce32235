"""Time limits: the policy (per type and urgency) turned into deadlines on the calendar.

Defaults are DOMAIN.md's; a city changes them with ``DeadlinePolicy`` rows in
the admin (a row with an empty type applies to every type of that urgency).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from routing.calendar import WorkingCalendar
from routing.models import DeadlinePolicy
from routing.states import TicketType, Urgency

Unit = DeadlinePolicy.Unit


@dataclass(frozen=True)
class Limit:
    amount: int
    unit: str

    def after(self, start: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
        if self.unit == Unit.WORKING_DAYS:
            return calendar.add_working_days(start, self.amount, count_start_day=settings_count_start_day())
        if self.unit == Unit.HOURS:
            return start + dt.timedelta(hours=self.amount)
        return start + dt.timedelta(minutes=self.amount)

    def warn_point(self, start: dt.datetime, due: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
        """Yellow card: 1 working day before a working-day deadline; halfway for clock-time limits."""
        if self.unit == Unit.WORKING_DAYS:
            return max(start, calendar.working_day_before(due, 1))
        return start + (due - start) / 2


@dataclass(frozen=True)
class Policy:
    accept: Limit
    handle: Limit


def settings_count_start_day() -> bool:
    return getattr(settings, "DEADLINE_COUNT_START_DAY", False)


_HANDLE_DAYS = {
    TicketType.INQUIRY: 3,
    TicketType.SUGGESTION: 3,
    TicketType.PRAISE: 3,
    TicketType.HELP: 5,
    TicketType.COMPLAINT: 5,
    TicketType.REPORT: 5,
}
LIFE_SAFETY_ACCEPT = Limit(15, Unit.MINUTES)
RETURN_WINDOW = Limit(2, Unit.WORKING_DAYS)
DISPUTE_DECISION = Limit(1, Unit.WORKING_DAYS)  # the dispatch desk decides a 退单 / 派单异议 within this
APPEAL_WINDOW = Limit(5, Unit.WORKING_DAYS)  # a department appeals a rating or a red card within this of it
APPEAL_DECISION = Limit(3, Unit.WORKING_DAYS)  # a supervisor decides a 复核申诉 within this
MAX_EXTENSION_DAYS = 10


def default_policy(ticket_type: str, urgency: str) -> Policy:
    """DOMAIN.md: accept in 1 working day (特急 30 min); handle in 3 or 5 working days (紧急 24 h, 特急 2 h)."""
    if urgency == Urgency.CRITICAL:
        return Policy(Limit(30, Unit.MINUTES), Limit(2, Unit.HOURS))
    if urgency == Urgency.URGENT:
        return Policy(Limit(1, Unit.WORKING_DAYS), Limit(24, Unit.HOURS))
    return Policy(Limit(1, Unit.WORKING_DAYS), Limit(_HANDLE_DAYS.get(ticket_type, 5), Unit.WORKING_DAYS))


def policy_for(ticket_type: str, urgency: str) -> Policy:
    rows = {row.type: row for row in DeadlinePolicy.objects.filter(urgency=urgency, type__in=[ticket_type, ""])}
    row = rows.get(ticket_type) or rows.get("")
    if row is None:
        return default_policy(ticket_type, urgency)
    return Policy(Limit(row.accept_limit, row.accept_unit), Limit(row.handle_limit, row.handle_unit))


@dataclass(frozen=True)
class DispatchDeadlines:
    accept_due: dt.datetime
    accept_warn: dt.datetime
    handle_due: dt.datetime
    handle_warn: dt.datetime
    return_until: dt.datetime


def for_dispatch(ticket, *, at: dt.datetime, calendar: WorkingCalendar | None = None) -> DispatchDeadlines:
    """Deadlines that start when a ticket is dispatched (or sub-dispatched)."""
    calendar = calendar or WorkingCalendar()
    policy = policy_for(ticket.type, ticket.urgency)
    accept_limit = LIFE_SAFETY_ACCEPT if ticket.life_safety else policy.accept
    handle_due = policy.handle.after(at, calendar)
    # Accepting never gets longer than handling (紧急: 1 working day to accept, 24 h to handle).
    accept_due = min(accept_limit.after(at, calendar), handle_due)
    return DispatchDeadlines(
        accept_due=accept_due,
        accept_warn=accept_limit.warn_point(at, accept_due, calendar),
        handle_due=handle_due,
        handle_warn=policy.handle.warn_point(at, handle_due, calendar),
        return_until=RETURN_WINDOW.after(at, calendar),
    )


def handle_warn_point(ticket, *, calendar: WorkingCalendar | None = None) -> dt.datetime | None:
    """Yellow-card point of the ticket's handle deadline as it stands."""
    if ticket.handle_due is None:
        return None
    calendar = calendar or WorkingCalendar()
    policy = policy_for(ticket.type, ticket.urgency)
    start = ticket.accepted_at or ticket.dispatched_at or ticket.registered_at
    return policy.handle.warn_point(min(start, ticket.handle_due), ticket.handle_due, calendar)


def accept_warn_point(ticket, *, calendar: WorkingCalendar | None = None) -> dt.datetime | None:
    """Yellow-card point of the ticket's accept deadline as it stands."""
    if ticket.accept_due is None:
        return None
    calendar = calendar or WorkingCalendar()
    limit = LIFE_SAFETY_ACCEPT if ticket.life_safety else policy_for(ticket.type, ticket.urgency).accept
    start = ticket.dispatched_at or ticket.registered_at
    return limit.warn_point(min(start, ticket.accept_due), ticket.accept_due, calendar)


def dispute_decide_due(at: dt.datetime, *, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """When the dispatch desk must have decided a dispute filed at ``at``."""
    return DISPUTE_DECISION.after(at, calendar or WorkingCalendar())


def appeal_until(at: dt.datetime, *, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """The last moment a department may appeal a rating or a red card given at ``at``."""
    return APPEAL_WINDOW.after(at, calendar or WorkingCalendar())


def appeal_decide_due(at: dt.datetime, *, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """When a supervisor must have decided an appeal filed at ``at``."""
    return APPEAL_DECISION.after(at, calendar or WorkingCalendar())


def extended(handle_due: dt.datetime, days: int, *, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """The handle deadline moved by ``days`` working days (an approved extension)."""
    calendar = calendar or WorkingCalendar()
    return calendar.add_working_days(handle_due, days)


def fresh_handle(ticket, *, at: dt.datetime, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """A full handle period from ``at`` (a reopened ticket)."""
    calendar = calendar or WorkingCalendar()
    return policy_for(ticket.type, ticket.urgency).handle.after(at, calendar)
