"""Deadlines on the working-day calendar, and the yellow/red card sweep."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from routing import actions, deadlines, sweep
from routing.calendar import WorkingCalendar
from routing.models import CalendarOverride, DeadlinePolicy, Ticket, TicketEvent
from routing.states import TicketType, Urgency

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(y, m, d, hh=10, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.mark.django_db
def test_national_day_and_its_make_up_saturday():
    # given a ticket dispatched on 2026-09-30, the eve of the National Day holiday (10-01 .. 10-07,
    # with Saturday 10-10 a make-up working day)
    calendar = WorkingCalendar()
    start = at(2026, 9, 30)
    # then 1 working day is Thursday 10-08, and 5 are 10-08, 10-09, 10-10 (Sat), 10-12, 10-13
    assert calendar.add_working_days(start, 1) == at(2026, 10, 8, 23, 59).replace(second=59)
    assert calendar.add_working_days(start, 3).date() == dt.date(2026, 10, 10)
    assert calendar.add_working_days(start, 5).date() == dt.date(2026, 10, 13)


@pytest.mark.django_db
def test_local_override_is_data():
    # given the city declares 2026-10-08 a local holiday
    CalendarOverride.objects.create(day=dt.date(2026, 10, 8), is_workday=False, note="本地调整")
    # then the first working day after 09-30 moves to 10-09
    assert WorkingCalendar().add_working_days(at(2026, 9, 30), 1).date() == dt.date(2026, 10, 9)


@pytest.mark.django_db
def test_dispatch_deadlines_follow_type_and_urgency(new_ticket):
    complaint = new_ticket(type=TicketType.COMPLAINT)
    due = deadlines.for_dispatch(complaint, at=at(2026, 9, 30))
    assert due.accept_due.date() == dt.date(2026, 10, 8)
    assert due.handle_due.date() == dt.date(2026, 10, 13)
    assert due.return_until.date() == dt.date(2026, 10, 9)
    # yellow card one working day before: 10-12 (Monday) 23:59:59
    assert due.handle_warn.date() == dt.date(2026, 10, 12)

    inquiry = new_ticket(type=TicketType.INQUIRY)
    assert deadlines.for_dispatch(inquiry, at=at(2026, 9, 30)).handle_due.date() == dt.date(2026, 10, 10)

    critical = new_ticket(urgency=Urgency.CRITICAL)
    due = deadlines.for_dispatch(critical, at=at(2026, 10, 2, 22, 0))
    # clock time, holidays or not: accept in 30 minutes, handle in 2 hours
    assert due.accept_due == at(2026, 10, 2, 22, 30)
    assert due.handle_due == at(2026, 10, 3, 0, 0)

    urgent = new_ticket(urgency=Urgency.URGENT)
    assert deadlines.for_dispatch(urgent, at=at(2026, 10, 2, 9, 0)).handle_due == at(2026, 10, 3, 9, 0)

    life = new_ticket(urgency=Urgency.CRITICAL, life_safety=True)
    assert deadlines.for_dispatch(life, at=at(2026, 10, 2, 9, 0)).accept_due == at(2026, 10, 2, 9, 15)


@pytest.mark.django_db
def test_policy_rows_override_the_defaults(new_ticket):
    DeadlinePolicy.objects.create(type="", urgency=Urgency.NORMAL, accept_limit=2, accept_unit="working_days", handle_limit=10, handle_unit="working_days")
    DeadlinePolicy.objects.create(type=TicketType.INQUIRY, urgency=Urgency.NORMAL, accept_limit=4, accept_unit="hours", handle_limit=1, handle_unit="working_days")
    complaint = deadlines.for_dispatch(new_ticket(type=TicketType.COMPLAINT), at=at(2026, 11, 2))
    assert (complaint.accept_due.date(), complaint.handle_due.date()) == (dt.date(2026, 11, 4), dt.date(2026, 11, 16))
    inquiry = deadlines.for_dispatch(new_ticket(type=TicketType.INQUIRY), at=at(2026, 11, 2))
    assert (inquiry.accept_due, inquiry.handle_due.date()) == (at(2026, 11, 2, 14), dt.date(2026, 11, 3))


@pytest.mark.django_db
def test_extension_moves_the_handle_deadline_by_working_days(ticket_in, cast):
    ticket = ticket_in("accepted_extension")
    before = ticket.handle_due
    ticket = actions.approve_extension(ticket, by=cast["dispatcher"])
    calendar = WorkingCalendar()
    assert ticket.handle_due == calendar.add_working_days(before, 3)
    assert ticket.due_at == ticket.handle_due


@pytest.mark.django_db
def test_sweep_gives_each_card_once(ticket_in):
    # given a dispatched ticket and a clock that moves past its yellow point, then its deadline
    ticket = ticket_in("dispatched")
    assert ticket.warn_at <= ticket.due_at
    between = ticket.warn_at + (ticket.due_at - ticket.warn_at) / 2
    # when the sweep runs again and again
    first = sweep.run(now=between)
    again = sweep.run(now=between)
    late = sweep.run(now=ticket.due_at + dt.timedelta(minutes=1))
    later = sweep.run(now=ticket.due_at + dt.timedelta(days=3))
    # then one yellow and one red card, each one event
    assert (first.yellow, first.red, again.yellow, again.red, late.red, later.red) == (1, 0, 0, 0, 1, 0)
    kinds = list(TicketEvent.objects.filter(ticket=ticket, kind__startswith="ticket.card_").values_list("kind", "data__deadline"))
    assert kinds == [("ticket.card_yellow", "accept"), ("ticket.card_red", "accept")]
    ticket.refresh_from_db()
    assert ticket.yellow_card_at == between


@pytest.mark.django_db
def test_a_new_deadline_earns_new_cards(ticket_in, cast):
    # given an accept deadline that was red-carded
    ticket = ticket_in("dispatched")
    sweep.run(now=ticket.due_at + dt.timedelta(minutes=1))
    # when the ticket is accepted, the handle deadline starts running with no cards
    ticket = actions.accept_ticket(ticket, by=cast["dept_own"])
    assert (ticket.yellow_card_at, ticket.red_card_at, ticket.due_at) == (None, None, ticket.handle_due)
    result = sweep.run(now=ticket.handle_due + dt.timedelta(minutes=1))
    assert result.red == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind="ticket.card_red", data__deadline="handle").count() == 1


@pytest.mark.django_db
def test_the_sweep_ignores_tickets_that_are_not_running(ticket_in):
    replied = ticket_in("replied")
    Ticket.objects.filter(pk=replied.pk).update(due_at=at(2020, 1, 1), warn_at=at(2019, 12, 31))
    assert sweep.run() == sweep.SweepResult(0, 0)
