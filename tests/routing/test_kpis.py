"""KPIs from the timeline: the counts of a history walked day by day through the real actions, the
handling rounds of on-time completion, and the roll-ups giving exactly what counting the events gives."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from routing import actions, kpis, periodic, sweep
from routing.errors import NotAllowed
from routing.models import KpiDay, KpiRolledDay, Ticket, TicketEvent
from routing.roles import SYSTEM
from routing.states import Satisfaction, State, Urgency

SHANGHAI = ZoneInfo("Asia/Shanghai")
D1 = dt.date(2026, 11, 23)  # a Monday; D1..D4 are working days
DAYS = [D1 + dt.timedelta(days=n) for n in range(5)]


def at(day: dt.date, hour: int, minute: int = 0):
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI), tick=False)


def reload(ticket):
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def history(new_ticket, cast, departments):
    """Five tickets over four working days (D1..D4), each step through the real actions at its time."""
    staff, dispatcher, agent = cast["dept_own"], cast["dispatcher"], cast["agent"]
    with at(DAYS[0], 10):
        a, b, c, d, e = (new_ticket(urgency=Urgency.URGENT if n == 1 else Urgency.NORMAL) for n in range(5))
        actions.resolve_ticket(d, answer="已按知识库解答", by=agent)
        for ticket in (a, b, c):
            actions.dispatch_ticket(ticket, department=departments["city_mgmt"], by=dispatcher)
        actions.dispatch_ticket(e, department=departments["housing"], by=dispatcher)
        actions.request_return(e, reason="不属于本单位职责", by=cast["dept_other"])
        actions.approve_return(e, by=dispatcher)
    with at(DAYS[0], 11):
        for ticket in (a, b, c):
            actions.accept_ticket(ticket, by=staff)  # on time
    with at(DAYS[1], 10):
        actions.reply_ticket(a, founded=True, solved=True, text="已修复", by=staff)  # on time: settles A's round
        actions.reply_ticket(c, founded=True, solved=False, text="正在协调", by=staff)  # on time: settles C's first round
        actions.reject_reply(c, reason="答复不完整", by=dispatcher)
    with at(DAYS[1], 12):
        assert sweep.run().red == 1  # B (urgent: 24 hours) is overdue before any reply: a late round
    with at(DAYS[2], 10):
        actions.approve_reply(a, by=dispatcher)
        actions.callback_ticket(a, reached=True, solved=True, satisfaction=Satisfaction.SATISFIED, by=agent)
        actions.reply_ticket(b, founded=True, solved=True, text="已处理", by=staff)  # late, the round was settled by the card
        actions.reply_ticket(c, founded=True, solved=True, text="已协调解决", by=staff)  # the same round: settles nothing
        actions.approve_reply(c, by=dispatcher)
        actions.callback_ticket(c, reached=True, solved=False, satisfaction=Satisfaction.UNSATISFIED, by=agent)
        actions.reopen_ticket(c, reason="市民不满意", by=agent)  # a new round
    with at(DAYS[3], 10):
        actions.reply_ticket(c, founded=True, solved=True, text="已彻底解决", by=staff)  # on time: settles C's second round
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def metric(report, name):
    value = report["totals"][name]
    return value["numerator"], value["denominator"]


def reports(end=DAYS[3]):
    return kpis.compute_each(start=DAYS[0], end=end, groupings=["", *kpis.GROUPINGS])


@pytest.mark.django_db
def test_the_kpis_of_a_history_count_each_step_and_each_handling_round_once(history):
    with at(DAYS[4], 9):
        report = kpis.compute(start=DAYS[0], end=DAYS[3])
    assert metric(report, "first_contact") == (1, 5)
    assert metric(report, "on_time_accept") == (3, 4)
    # rounds: A on time; B red-carded, then replied late; C's first round on time (its rejected
    # reply's successor settles nothing), C's reopened round on time
    assert metric(report, "on_time_completion") == (3, 4)
    assert metric(report, "return_rate") == (1, 4)
    assert metric(report, "satisfaction") == (1, 2)
    assert metric(report, "reopen_rate") == (1, 5)
    assert reload(history["a"]).state == State.CLOSED and reload(history["c"]).state == State.REPLIED


@pytest.mark.django_db
def test_rolled_up_days_give_exactly_what_counting_their_events_gives(history, new_ticket):
    with at(DAYS[4], 9):
        new_ticket()  # today's: counted live
        live = reports(end=DAYS[4])
        assert kpis.roll_up() == 4  # D1..D4 are over; today is not
        assert sorted(KpiRolledDay.objects.values_list("day", flat=True)) == DAYS[:4]
        assert KpiDay.objects.exists()
        rolled = reports(end=DAYS[4])
        assert kpis.roll_up() == 0  # once each
    assert rolled == live
    assert metric(rolled[""], "first_contact") == (1, 6)
    by_day = {g["key"]: g["metrics"]["first_contact"]["denominator"] for g in rolled["day"]["groups"]}
    assert by_day == {DAYS[0].isoformat(): 5, DAYS[1].isoformat(): 0, DAYS[2].isoformat(): 0, DAYS[3].isoformat(): 0, DAYS[4].isoformat(): 1}
    by_department = {g["label"]: g["metrics"]["on_time_completion"]["denominator"] for g in rolled["department"]["groups"]}
    assert by_department["市城市管理局"] == 4


@pytest.mark.django_db
def test_rolled_days_are_read_from_their_roll_ups_not_recounted(history, cast):
    with at(DAYS[4], 9):
        kpis.roll_up()
        before = reports()
        # an event appearing in a rolled day afterwards (impossible in production: events are
        # appended at the present) shows which days were read from the roll-ups
        TicketEvent.objects.create(
            ticket=history["d"], kind="ticket.registered", actor_role=SYSTEM.role, created_at=dt.datetime(2026, 11, 24, 15, tzinfo=SHANGHAI)
        )
        assert reports() == before
        kpis.forget_roll_ups()
        recounted = reports()
    assert metric(recounted[""], "first_contact") == (1, 6)
    assert not KpiRolledDay.objects.exists() and not KpiDay.objects.exists()


@pytest.mark.django_db
def test_an_exclusion_applies_at_once_to_rolled_days_too(history, cast):
    with at(DAYS[4], 9):
        kpis.roll_up()
        with pytest.raises(NotAllowed):
            actions.exclude_from_kpis(history["c"], reason="市民恶意重复来电", by=cast["dispatcher"])
        actions.exclude_from_kpis(history["c"], reason="市民恶意重复来电", by=cast["supervisor"])
        rolled = reports()
        kpis.forget_roll_ups()
        live = reports()
    assert rolled == live
    assert metric(rolled[""], "first_contact") == (1, 4)
    assert metric(rolled[""], "on_time_completion") == (1, 2)  # A on time, B late
    assert metric(rolled[""], "reopen_rate") == (0, 2)
    for by in kpis.GROUPINGS:
        assert sum(g["metrics"]["first_contact"]["denominator"] for g in rolled[by]["groups"]) == 4, by


@pytest.mark.django_db
def test_an_excluded_ticket_leaves_every_kpi(ticket_in, cast):
    for situation in ("closed_at_first_contact", "registered", "closed"):
        ticket_in(situation)
    excluded = ticket_in("closed_at_first_contact")
    before = kpis.compute(by="department")
    assert before["totals"]["first_contact"] == {"value": 0.5, "numerator": 2, "denominator": 4}

    actions.exclude_from_kpis(excluded, reason="市民恶意重复来电", by=cast["supervisor"])

    after = kpis.compute_each(groupings=["", "department", "category", "area", "day"])
    for by, report in after.items():
        assert report["totals"]["first_contact"] == {"value": 0.3333, "numerator": 1, "denominator": 3}, by
        assert report["totals"]["satisfaction"] == before["totals"]["satisfaction"], by
        registered = sum(g["metrics"]["first_contact"]["denominator"] for g in report["groups"])
        assert by == "" or registered == 3, (by, report["groups"])
    assert after["department"] == kpis.compute(by="department")


@pytest.mark.django_db
def test_a_day_is_rolled_up_only_once_it_is_over(history):
    with at(DAYS[3], 23, 59):
        assert kpis.roll_up() == 3  # D4 is not over
        with pytest.raises(ValueError):
            kpis.roll_up_day(DAYS[3])
    with at(DAYS[4], 0, 5):
        assert kpis.roll_up() == 0  # over, but transactions begun before midnight may still commit
    with at(DAYS[4], 0, 20):
        assert kpis.roll_up() == 1


def test_the_roll_up_holds_every_count_and_the_worker_runs_it():
    columns = {f.name for f in KpiDay._meta.get_fields()} - {"id", "day", "department", "category", "district", "type"}
    assert columns == set(kpis.COUNTS)
    assert "kpis.roll_up" in periodic._jobs


@pytest.mark.django_db
def test_a_red_card_before_acceptance_is_on_the_accept_deadline_and_settles_no_round(new_ticket, cast, departments):
    with at(DAYS[0], 10):
        ticket = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
        actions.request_return(ticket, reason="不属于本单位职责", by=cast["dept_own"])
    with at(DAYS[2], 10):
        assert sweep.run().red == 1
    card = TicketEvent.objects.get(ticket=ticket, kind="ticket.card_red")
    assert card.data["deadline"] == "accept" and "settles" not in card.data
    assert reload(ticket).handle_settled_at is None


@pytest.mark.django_db
def test_the_command_rolls_up_every_finished_day_and_rebuilds_on_request(history):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    with at(DAYS[4], 9):
        expected = reports()
        call_command("kpi_rollup", "--batch-days", "3", stdout=out)
        assert out.getvalue().splitlines()[-1] == "4 days rolled up"
        call_command("kpi_rollup", "--rebuild", stdout=out)
        assert "forgot 4 rolled-up days" in out.getvalue() and out.getvalue().splitlines()[-1] == "4 days rolled up"
        assert reports() == expected
