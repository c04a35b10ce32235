"""Queues and lists read page by page from their indexes (routing.selectors.TicketList).

The pages must be exactly what the plain query (the ``OR`` of lead, sub-dispatcher and
assisting, sorted as a whole) gives, for every window, with ties on the deadline, with a
ticket that a department holds in two ways, and with tickets outside the queue; and on
PostgreSQL each queue's page must be readable from its own partial index.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing import actions, selectors
from routing.models import RUNNING, SUPERVISED, Ticket
from routing.states import State

WINDOWS = [(0, 1), (0, 3), (2, 5), (3, 4), (0, 20), (4, 40), (7, 8), (11, 30), (25, 50)]


@pytest.fixture
def mixed_queue(ticket_in, new_ticket, cast, departments):
    """Tickets of 市城市管理局 in every way a department holds one: lead (dispatched, accepted,
    closed), assisting another department's ticket, sub-dispatched to its unit; the unit also
    both leads and assists one ticket. Deadlines are set with ties."""
    city_mgmt, housing, unit = departments["city_mgmt"], departments["housing"], departments["unit"]
    dispatcher, own = cast["dispatcher"], cast["dept_own"]
    made = [ticket_in("dispatched"), ticket_in("accepted"), ticket_in("accepted"), ticket_in("return_requested"), ticket_in("dispatched")]
    made.append(ticket_in("closed"))  # not in the queue: finished
    made.append(ticket_in("replied"))  # not in the queue: waiting for the dispatcher
    for _ in range(3):  # housing leads, city management assists
        made.append(actions.dispatch_ticket(new_ticket(), department=housing, assisting=[city_mgmt], by=dispatcher))
    for _ in range(2):  # city management hands them to its unit
        t = actions.dispatch_ticket(new_ticket(), department=city_mgmt, by=dispatcher)
        made.append(actions.sub_dispatch_ticket(actions.accept_ticket(t, by=own), unit=unit, by=own))
    twice = actions.dispatch_ticket(new_ticket(), department=city_mgmt, assisting=[unit, housing], by=dispatcher)
    made.append(actions.sub_dispatch_ticket(twice, unit=unit, by=own))  # the unit now leads and assists it
    made.append(new_ticket())  # registered: nobody's
    base = timezone.now().replace(microsecond=0)
    for n, ticket in enumerate(made):  # deadlines in pairs, some overdue, so ties are broken by id
        Ticket.objects.filter(pk=ticket.pk).update(due_at=base + dt.timedelta(hours=(n // 2) - 4), registered_at=base - dt.timedelta(days=n // 3))
    return {"city_mgmt": city_mgmt, "housing": housing, "unit": unit, "tickets": made}


def reference_queue(department) -> list[int]:
    return list(selectors.department_tickets(department.pk).filter(RUNNING).order_by("due_at", "id").values_list("pk", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["city_mgmt", "housing", "unit"])
def test_a_department_queue_pages_exactly_like_the_whole_sorted_query(mixed_queue, who):
    department = mixed_queue[who]
    expected = reference_queue(department)
    queue = selectors.department_queue(department.pk)
    assert len(expected) >= 3
    assert queue.count() == len(expected)
    for start, stop in WINDOWS:
        assert [t.pk for t in queue[start:stop]] == expected[start:stop], (who, start, stop)
    assert queue[0].pk == expected[0] and queue[len(expected) - 1].pk == expected[-1]
    with pytest.raises(IndexError):
        queue[len(expected)]


@pytest.mark.django_db
def test_a_ticket_held_two_ways_is_listed_and_counted_once(mixed_queue):
    unit = mixed_queue["unit"]
    twice = Ticket.objects.filter(department=unit, assisting_departments=unit).get()
    queue = selectors.department_queue(unit.pk)
    listed = [t.pk for t in queue[0:50]]
    assert listed.count(twice.pk) == 1
    assert queue.count() == len(listed) == 3
    assert queue.totals()["total"] == 3


@pytest.mark.django_db
def test_queue_totals_match_counting_each_ticket(mixed_queue):
    now = timezone.now()
    seen = []
    for department in (mixed_queue["city_mgmt"], mixed_queue["housing"], mixed_queue["unit"]):
        expected = Ticket.objects.filter(pk__in=reference_queue(department)).aggregate(
            total=Count("id"), red=Count("id", filter=Q(due_at__lt=now)), to_accept=Count("id", filter=Q(state=State.DISPATCHED))
        )
        got = selectors.department_queue(department.pk).totals(red=Q(due_at__lt=now), to_accept=Q(state=State.DISPATCHED))
        assert got == expected, department.code
        seen.append(expected)
    assert any(e["red"] for e in seen) and any(e["to_accept"] for e in seen) and any(e["total"] > e["red"] for e in seen)


@pytest.mark.django_db
def test_a_department_list_filters_and_pages_like_the_plain_query(mixed_queue, cast):
    staff = cast["dept_own"]
    for states in ([State.ACCEPTED], [State.DISPATCHED, State.ACCEPTED, State.CLOSED], list(State.values)):
        expected = list(
            selectors.visible_tickets(staff).filter(state__in=states).order_by("-registered_at", "-id").values_list("pk", flat=True)
        )
        listed = selectors.visible_list(staff).filter(state__in=states)
        assert listed.count() == len(expected)
        for start, stop in WINDOWS:
            assert [t.pk for t in listed[start:stop]] == expected[start:stop], (states, start, stop)


@pytest.mark.django_db
def test_the_other_queues_page_like_their_plain_queries(ticket_in):
    for situation in ["registered", "registered", "return_requested", "accepted_extension", "replied", "accepted", "reply_approved", "rated_unsatisfied", "closed"]:
        ticket_in(situation)
    Ticket.objects.update(due_at=timezone.now() - dt.timedelta(hours=1))  # every running one overdue
    plain = {
        "dispatcher": Ticket.objects.filter(
            Q(state__in=[State.REGISTERED, State.RETURN_REQUESTED, State.REPLIED]) | Q(state=State.ACCEPTED, extension_pending=True)
        ).order_by("registered_at", "id"),
        "callback": Ticket.objects.filter(state__in=[State.REPLY_APPROVED, State.RATED]).order_by("replied_at", "id"),
        "overdue": Ticket.objects.filter(state__in=State.running(), due_at__lt=timezone.now()).order_by("due_at", "id"),
    }
    queues = {"dispatcher": selectors.dispatcher_queue(), "callback": selectors.callback_queue(), "overdue": selectors.overdue()}
    for name, queue in queues.items():
        expected = list(plain[name].values_list("pk", flat=True))
        assert expected, name
        assert queue.count() == len(expected), name
        for start, stop in WINDOWS:
            assert [t.pk for t in queue[start:stop]] == expected[start:stop], (name, start, stop)


@pytest.mark.django_db
def test_a_page_loads_its_tickets_with_their_relations(mixed_queue, django_assert_num_queries):
    queue = selectors.department_queue(mixed_queue["city_mgmt"].pk)
    with django_assert_num_queries(5):  # three parts' keys, the tickets, their assisting departments
        page = queue[0:20]
    with django_assert_num_queries(0):
        for ticket in page:
            _ = (ticket.department and ticket.department.name, ticket.citizen and ticket.citizen.name, ticket.category and ticket.category.name)
            _ = [d.name for d in ticket.assisting_departments.all()]


@pytest.mark.django_db
def test_an_empty_list_pages_counts_and_totals_to_nothing():
    nothing = selectors.TicketList([Ticket.objects.none(), Ticket.objects.none()], order=("due_at", "id"))
    assert nothing[0:20] == [] and nothing.count() == 0
    assert nothing.totals(red=Q(due_at__lt=timezone.now())) == {"total": 0, "red": 0}


def test_a_ticket_list_refuses_an_order_it_cannot_merge():
    with pytest.raises(ValueError):
        selectors.TicketList([Ticket.objects.all()], order=("due_at", "-id"))
    with pytest.raises(ValueError):
        selectors.TicketList([Ticket.objects.all()], order=("due_at",))
    queue = selectors.TicketList([Ticket.objects.all()], order=("due_at", "id"))
    for bad in (slice(0, None), slice(None, None), slice(-5, -1), slice(0, 10, 2)):
        with pytest.raises(TypeError):
            queue[bad]


def _plan(read, *, only: str) -> str:
    """The plan of the first query ``read`` runs when ``only`` is left of the ticket table's
    own indexes and sequential scans, bitmap scans and sorts are discouraged: PostgreSQL uses a
    partial index only when it can prove the query's condition implies the index's, and skips
    the sort only when the index gives the order, so the plan shows whether both hold.
    (The test's transaction is rolled back, and the indexes with it.)"""
    with CaptureQueriesContext(connection) as captured:
        read()
    sql = captured.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = 'routing_ticket'::regclass AND c.relname <> %s
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
            [only],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        for plan_kind in ("seqscan", "bitmapscan", "sort"):  # still chosen if nothing else can answer
            cursor.execute(f"SET LOCAL enable_{plan_kind} = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "index, read",
    [
        ("ticket_dept_running", lambda department: selectors.department_queue(department)[0:20]),
        ("ticket_dispatcher_work", lambda department: selectors.dispatcher_queue()[0:20]),
        ("ticket_callback_work", lambda department: selectors.callback_queue()[0:20]),
        ("ticket_running_due", lambda department: selectors.overdue()[0:20]),
        ("ticket_dept_recent", lambda department: selectors.TicketList(selectors.department_parts(department), order=("-registered_at", "-id"))[0:20]),
    ],
)
def test_each_queue_page_can_be_read_in_order_from_its_index(mixed_queue, index, read):
    """The selectors filter with the very conditions of the partial indexes, so PostgreSQL can use
    them in the page's order; were a condition or an order to drift from its index, this fails."""
    assert connection.vendor == "postgresql", "partial indexes are proved on PostgreSQL"
    plan = _plan(lambda: read(mixed_queue["city_mgmt"].pk), only=index)
    assert index in plan, f"{index} not used:\n{plan}"
    assert "Sort" not in plan and "Seq Scan" not in plan, f"{index} not read in order:\n{plan}"


@pytest.mark.django_db
def test_the_city_counts_of_the_wallboard_match_counting_every_ticket(mixed_queue, ticket_in, cast):
    for situation in ("accepted", "replied", "dispatched"):
        actions.supervise_ticket(ticket_in(situation), note="督办", by=cast["supervisor"])
    finished = actions.supervise_ticket(ticket_in("replied"), by=cast["supervisor"])
    finished = actions.approve_reply(finished, by=cast["dispatcher"])
    actions.callback_ticket(finished, reached=True, solved=True, satisfaction="satisfied", by=cast["agent"])  # closes it: no longer counted
    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    running, open_ = Q(state__in=State.running()), Q(state__in=State.open_states())
    expected = Ticket.objects.aggregate(
        open=Count("id", filter=open_),
        today=Count("id", filter=Q(registered_at__gte=midnight)),
        to_dispatch=Count("id", filter=Q(state=State.REGISTERED)),
        overdue=Count("id", filter=running & Q(due_at__lt=now)),
        due_soon=Count("id", filter=running & Q(warn_at__lte=now, due_at__gte=now)),
        supervised=Count("id", filter=open_ & Q(supervised=True)),
    )
    assert selectors.city_counts(now=now) == expected
    assert expected["supervised"] == 3 and expected["overdue"] > 0


@pytest.mark.django_db
def test_the_supervised_count_reads_its_small_index(mixed_queue):
    assert connection.vendor == "postgresql", "partial indexes are proved on PostgreSQL"
    plan = _plan(lambda: Ticket.objects.filter(SUPERVISED).count(), only="ticket_supervised_open")
    assert "ticket_supervised_open" in plan and "Seq Scan" not in plan, plan
