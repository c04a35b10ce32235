"""Races on real PostgreSQL: two connections at once, one winner."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from routing import actions, outbox
from routing.errors import TransitionConflict
from routing.intake import IntakeRequest, register_ticket
from routing.models import OutboxMessage, Ticket, TicketEvent

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(count, target):
    """Start ``count`` threads at the same instant; each gets its own database connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results[i] = ("ok", target(i))
        except Exception as exc:  # the outcome of each racer is what we assert on
            results[i] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_two_staff_accepting_at_once_exactly_one_wins(ticket_in, cast):
    assert connection.vendor == "postgresql", "this race is proved on PostgreSQL"
    # given a dispatched ticket and two staff of its department
    ticket = ticket_in("dispatched")
    second = type(cast["dept_own"]).objects.create_user(username="chengguan2", password="x-long-password", role="department", department=cast["dept_own"].department)
    staff = [cast["dept_own"], second]
    # when both accept at the same instant
    results = run_in_threads(2, lambda i: actions.accept_ticket(Ticket.objects.get(pk=ticket.pk), by=staff[i]))
    # then one wins and the other gets a conflict (409)
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, TransitionConflict) and error.http_status == 409
    assert TicketEvent.objects.filter(ticket=ticket, kind="ticket.accepted").count() == 1


def test_ticket_numbers_are_unique_under_parallel_registration(cast):
    assert connection.vendor == "postgresql"
    results = run_in_threads(
        8,
        lambda i: register_ticket(IntakeRequest(channel="web", description=f"并发登记 {i}", citizen_phone=f"1390000{i:04d}"), by=cast["agent"]).ticket.number,
    )
    numbers = [value for kind, value in results if kind == "ok"]
    assert len(numbers) == 8, results
    assert len(set(numbers)) == 8
    assert sorted(int(n.split("-")[1]) for n in numbers) == list(range(1, 9))


def test_a_retried_channel_id_creates_one_ticket_even_in_a_race(cast):
    results = run_in_threads(
        4, lambda i: register_ticket(IntakeRequest(channel="phone", channel_ref="call:CA-race", description="同一通电话"), by=cast["agent"]).ticket.pk
    )
    assert {value for kind, value in results if kind == "ok"} == {Ticket.objects.get(channel_ref="call:CA-race").pk}
    assert Ticket.objects.filter(channel_ref="call:CA-race").count() == 1


def test_two_workers_never_deliver_a_message_twice(db):
    # given 40 messages and a handler that counts deliveries
    delivered: list[int] = []
    lock = threading.Lock()

    def handler(message):
        with lock:
            delivered.append(message.pk)

    outbox.register_handler("test.count", handler)
    from django.db import transaction

    with transaction.atomic():
        for i in range(40):
            outbox.enqueue("test.count", {"i": i}, key=f"test.count:{i}")
    # when two workers drain at once
    try:
        run_in_threads(2, lambda i: [outbox.run_once(worker=f"w{i}", limit=5) for _ in range(10)])
    finally:
        outbox.unregister_handler("test.count")
    # then every message was delivered exactly once
    assert sorted(delivered) == sorted(OutboxMessage.objects.filter(kind="test.count").values_list("pk", flat=True))
    assert OutboxMessage.objects.filter(kind="test.count", status="done").count() == 40


def test_two_workers_rolling_up_the_same_day_write_it_once(ticket_in):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from routing import kpis
    from routing.models import KpiDay, KpiRolledDay

    assert connection.vendor == "postgresql"
    # given a day with some history
    for situation in ("closed", "closed_at_first_contact", "accepted"):
        ticket_in(situation)
    today = timezone.localdate()
    expected = kpis.compute(start=today, end=today, by="department")
    # when two workers roll it up at once, the next morning
    with time_machine.travel(timezone.now() + dt.timedelta(days=1), tick=True):
        results = run_in_threads(4, lambda i: kpis.roll_up_day(today))
    # then one wrote it, the others found it written, and the figures are those of the events
    assert sorted(value for _, value in results) == [False, False, False, True], results
    assert KpiRolledDay.objects.filter(day=today).count() == 1
    cells = KpiDay.objects.filter(day=today)
    assert len({(c.department_id, c.category_id, c.district_id) for c in cells}) == cells.count()
    assert kpis.compute(start=today, end=today, by="department") == expected
