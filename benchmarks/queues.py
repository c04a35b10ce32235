"""Department queues and ticket timelines with 1,000,000 tickets in the database.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline REDIS_URL=redis://127.0.0.1:63799/7 \\
        .venv/bin/python -m benchmarks.queues --tickets 1000000 --requests 200 [--budget 45] [--reuse]

1. ``hotline_bench`` (kept between runs with ``--reuse``): 40 departments of very
   different sizes, 100 categories, 300,000 citizens, ``--tickets`` tickets in
   every state over the past year (about 25 % of them still running, a third of
   those overdue), their timelines (about 4.2 events per ticket, with the data the KPIs read), 1 % with an
   assisting department; bulk-loaded with ``INSERT ... SELECT generate_series``
   in one transaction per table, then ANALYZE;
2. one daphne process; each endpoint is requested ``--requests`` times in a row
   (one client: latency, not throughput), random tickets where there is a number;
   an endpoint slower than ``--budget`` seconds in all stops after 20 requests;
3. the KPI reads (dashboard, wallboard, API) with every day counted from the timeline,
   then the roll-up of every finished day (timed, what the worker does), then again;
4. ``EXPLAIN (ANALYZE, BUFFERS)`` of the queries behind them, from the selectors
   themselves, saved next to the figures; the indexes each one uses are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import random
import re
import time

from benchmarks import harness

DATABASE = "hotline_bench"
DEPARTMENTS = 40

# state, share of tickets (cumulative upper bound of random()), whether a department has it
STATES = [
    ("closed", 0.70, True),
    ("closed_first_contact", 0.75, False),
    ("registered", 0.80, False),
    ("dispatched", 0.86, True),
    ("accepted", 0.95, True),
    ("replied", 0.97, True),
    ("reply_approved", 0.98, True),
    ("withdrawn", 0.99, True),
    ("declined", 1.00, False),
]
# the timeline of a ticket in each state: (kind, to_state, actor role, public)
STEPS = {
    "closed": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True),
               ("ticket.replied", "replied", "department", False), ("ticket.callback", "rated", "agent", True),
               ("ticket.closed", "closed", "system", True)],
    "closed_first_contact": [("ticket.registered", "registered", "agent", True), ("ticket.resolved", "closed", "agent", True)],
    "registered": [("ticket.registered", "registered", "agent", True)],
    "dispatched": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True)],
    "accepted": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True),
                 ("ticket.accepted", "accepted", "department", True)],
    "replied": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True),
                ("ticket.accepted", "accepted", "department", True), ("ticket.replied", "replied", "department", False)],
    "reply_approved": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True),
                       ("ticket.replied", "replied", "department", False), ("ticket.reply_approved", "reply_approved", "dispatcher", True)],
    "withdrawn": [("ticket.registered", "registered", "agent", True), ("ticket.dispatched", "dispatched", "dispatcher", True),
                  ("ticket.withdrawn", "withdrawn", "citizen", True)],
    "declined": [("ticket.registered", "registered", "agent", True), ("ticket.declined", "declined", "agent", True)],
}  # fmt: skip


def _state_case() -> str:
    parts = [f"WHEN r < {bound} THEN '{name}'" for name, bound, _ in STATES]
    return "CASE " + " ".join(parts) + " END"


def load(tickets: int) -> dict:
    """Create and fill ``hotline_bench``; returns how long each part took."""
    from django.db import connection, transaction

    from routing.models import Area, Category, Department, User
    from routing.roles import Role

    timings: dict[str, float] = {}
    started = time.monotonic()
    city = Area.objects.create(code="bench-city", name="示范市", kind=Area.Kind.CITY)
    districts = [Area.objects.create(code=f"bench-d{i:02d}", name=f"第{i}区", kind=Area.Kind.DISTRICT, parent=city) for i in range(10)]
    leaves = []
    for a in range(5):
        top = Category.objects.create(code=f"bc{a}", name=f"大类{a}")
        for b in range(4):
            mid = Category.objects.create(code=f"bc{a}{b}", name=f"小类{a}{b}", parent=top)
            leaves += [Category.objects.create(code=f"bc{a}{b}{c}", name=f"细类{a}{b}{c}", parent=mid) for c in range(5)]
    departments = [Department.objects.create(code=f"bench-dept-{i:02d}", name=f"承办单位{i:02d}") for i in range(DEPARTMENTS)]
    User.objects.create(username="bench-dispatcher", role=Role.DISPATCHER)
    User.objects.create(username="bench-supervisor", role=Role.SUPERVISOR)
    for department in departments:
        User.objects.create(username=f"bench-staff-{department.code}", role=Role.DEPARTMENT, department=department)
    dept_ids = "ARRAY[" + ",".join(str(d.pk) for d in departments) + "]::bigint[]"
    leaf_ids = "ARRAY[" + ",".join(str(c.pk) for c in leaves) + "]::bigint[]"
    area_ids = "ARRAY[" + ",".join(str(a.pk) for a in districts) + "]::bigint[]"
    timings["reference data"] = time.monotonic() - started

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.12345)")
        started = time.monotonic()
        cursor.execute(
            """
            INSERT INTO routing_citizen (name, phone, phone_digest, created_at, anonymized_at)
            SELECT '市民' || g, '139' || lpad(g::text, 8, '0'), md5('p' || g) || md5('q' || g), now() - interval '400 days', NULL
            FROM generate_series(1, 300000) AS g
            """
        )
        timings["citizens"] = time.monotonic() - started
        started = time.monotonic()
        # A department's share falls off quadratically: a few big bureaus, many small units.
        cursor.execute(
            f"""
            INSERT INTO routing_ticket (
                number, channel, channel_ref, type, urgency, life_safety, title, description, address, lat, lng,
                anonymous, confidential, state, registered_at, dispatched_at, accepted_at, replied_at, closed_at,
                accept_due, handle_due, due_at, warn_at, yellow_card_at, red_card_at, return_until, return_reason,
                return_from_state, extension_pending, extension_days, extension_reason, extension_count, reply_founded,
                reply_solved, reply_text, reply_basis, resolution, callback_reached, callback_solved, satisfaction,
                unsatisfied_count, supervised, urge_count, decline_reason, kpi_excluded, kpi_exclusion_reason,
                created_at, updated_at, area_id, category_id, citizen_id, department_id, merged_into_id,
                parent_department_id, proposed_department_id, proposed_rule_id, registered_by_id
            )
            SELECT
                'B' || to_char(at, 'YYYYMMDD') || '-' || lpad(g::text, 7, '0'),
                (ARRAY['phone','phone','phone','web','sms','chat','open311'])[1 + floor(random() * 7)::int], '',
                (ARRAY['inquiry','help','complaint','report','suggestion','praise'])[1 + floor(random() * 6)::int], 'normal', false,
                '路灯不亮 ' || g, '东华街道路灯不亮已经一周了，晚上走路很危险，请尽快维修。编号 ' || g, '示范市东城区东华街道 ' || (g % 500) || ' 号',
                NULL, NULL, false, (g % 50 = 0),
                CASE WHEN st = 'closed_first_contact' THEN 'closed' ELSE st END,
                at,
                CASE WHEN dept THEN at + interval '2 hours' END,
                CASE WHEN st IN ('accepted', 'replied', 'reply_approved', 'closed') THEN at + interval '5 hours' END,
                CASE WHEN st IN ('replied', 'reply_approved', 'closed') THEN at + interval '3 days' END,
                CASE WHEN st IN ('closed', 'closed_first_contact', 'withdrawn', 'declined') THEN at + interval '4 days' END,
                CASE WHEN dept THEN at + interval '1 day' END,
                CASE WHEN dept THEN at + interval '5 days' END,
                CASE WHEN st IN ('dispatched', 'accepted') THEN now() + (random() * 10 - 3) * interval '1 day' END,
                NULL, NULL, NULL, NULL, '', '', false, NULL, '', 0, NULL, NULL,
                CASE WHEN st IN ('replied', 'reply_approved', 'closed') THEN '已处理' ELSE '' END, '',
                CASE WHEN st = 'closed_first_contact' THEN '已按知识库答复' ELSE '' END,
                NULL, NULL, CASE WHEN st = 'closed' THEN 'satisfied' ELSE '' END,
                0, false, 0, '', false, '', at, at,
                ({area_ids})[1 + floor(random() * 10)::int],
                ({leaf_ids})[1 + floor(random() * {len(leaves)})::int],
                1 + floor(random() * 300000)::bigint + (SELECT min(id) - 1 FROM routing_citizen),
                CASE WHEN dept THEN ({dept_ids})[1 + floor(power(random(), 2) * {DEPARTMENTS})::int] END,
                NULL, NULL, NULL, NULL, NULL
            FROM (
                SELECT g, st, st NOT IN ('registered', 'closed_first_contact', 'declined') AS dept,
                       CASE WHEN st IN ('dispatched', 'accepted', 'replied', 'reply_approved', 'registered')
                            THEN now() - random() * interval '20 days'
                            ELSE now() - interval '365 days' + (g::float / {tickets}) * interval '345 days' END AS at
                FROM (SELECT g, {_state_case()} AS st FROM (SELECT g, random() AS r FROM generate_series(1, {tickets}) AS g) AS s1) AS s2
            ) AS source
            """
        )
        timings["tickets"] = time.monotonic() - started
        started = time.monotonic()
        steps = []
        for state, kinds in STEPS.items():
            for n, (kind, to_state, role, public) in enumerate(kinds):
                steps.append(f"('{state}', {n}, '{kind}', '{to_state}', '{role}', {str(public).lower()})")
        cursor.execute(
            f"""
            INSERT INTO routing_ticketevent (ticket_id, kind, from_state, to_state, actor_role, data, public, created_at, actor_id, department_id)
            SELECT t.id, s.kind, '', s.to_state, s.role,
                   -- what the actions write that the KPIs read: nine in ten on time, replies settle their round
                   CASE WHEN s.kind = 'ticket.accepted' THEN jsonb_build_object('on_time', t.id % 10 <> 0)
                        WHEN s.kind = 'ticket.replied' THEN jsonb_build_object('on_time', t.id % 10 <> 1, 'settles', true, 'founded', true, 'solved', true)
                        WHEN s.kind = 'ticket.callback' THEN jsonb_build_object('reached', true, 'satisfaction',
                             (ARRAY['satisfied', 'satisfied', 'basically_satisfied', 'unsatisfied'])[1 + (t.id % 4)::int])
                        ELSE '{{}}'::jsonb END,
                   s.public, t.registered_at + s.step * interval '3 hours', NULL,
                   CASE WHEN s.step > 0 THEN t.department_id END
            FROM routing_ticket t
            JOIN (VALUES {", ".join(steps)}) AS s(state, step, kind, to_state, role, public)
              ON s.state = CASE WHEN t.state = 'closed' AND t.department_id IS NULL THEN 'closed_first_contact' ELSE t.state END
            ORDER BY 8  -- in time order, as a live system appends them
            """
        )
        timings["events"] = time.monotonic() - started
        started = time.monotonic()
        cursor.execute(
            f"""
            INSERT INTO routing_ticket_assisting_departments (ticket_id, department_id)
            SELECT id, ({dept_ids})[1 + (id % {DEPARTMENTS})::int] FROM routing_ticket
            WHERE id % 100 = 0 AND department_id IS NOT NULL AND department_id <> ({dept_ids})[1 + (id % {DEPARTMENTS})::int]
            """
        )
        timings["assisting"] = time.monotonic() - started
    started = time.monotonic()
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load: statistics and the visibility map
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.monotonic() - started
    return {k: round(v, 1) for k, v in timings.items()}


def tokens() -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    from routing.models import User

    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in User.objects.filter(username__startswith="bench-")}


def departments_by_size() -> list[tuple[str, int, int]]:
    """(code, all tickets, running tickets) per department, largest first."""
    from django.db.models import Count, Q

    from routing.models import Department
    from routing.states import State

    rows = Department.objects.annotate(total=Count("lead_tickets"), running=Count("lead_tickets", filter=Q(lead_tickets__state__in=State.running())))
    return sorted(((d.code, d.total, d.running) for d in rows), key=lambda r: -r[1])


def session_cookie(username: str) -> str:
    """A signed-in browser's cookie for ``username`` (the pages use sessions, the API tokens)."""
    from django.conf import settings
    from django.test import Client

    from routing.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def measure(base: str, *, auth: dict[str, str], paths: list[str], label: str, budget: float = float("inf"), minimum: int = 20) -> dict:
    """Request ``paths`` in a row with the ``auth`` headers; stops early after ``budget`` seconds once ``minimum`` requests are done."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    latencies = []
    sizes = []
    deadline = time.monotonic() + budget
    for path in paths:
        if len(latencies) >= minimum and time.monotonic() > deadline:
            break
        started = time.perf_counter()
        conn.request("GET", path, headers={**auth, "Accept": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"{label}: GET {path} → {response.status} {payload[:300]!r}")
        sizes.append(len(payload))
    conn.close()
    summary = harness.summarize(latencies)
    print(f"  {label:<48} p50 {summary.p50_ms:7.1f} ms   p95 {summary.p95_ms:7.1f} ms   ({summary.count} requests, {sum(sizes) // len(sizes)} bytes each)")
    return {"label": label, "example": paths[0], **summary.__dict__, "bytes": sum(sizes) // len(sizes)}


INDEX_USE = re.compile(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)|Seq Scan on (\w+)")


def explain_all(big_dept: str, sample_number: str) -> tuple[str, dict[str, list[str]]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every ticket query behind the endpoints: each read is run
    through the selectors as a page would run it, its SQL captured, then explained."""
    from django.db import connection
    from django.db.models import Q
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from routing import selectors
    from routing.models import Department, Ticket, User

    department = Department.objects.get(code=big_dept)
    staff = User.objects.get(username=f"bench-staff-{big_dept}")
    ticket = Ticket.objects.get(number=sample_number)
    reads = {
        "department queue: page 1": lambda: selectors.department_queue(department.pk)[:20],
        "department queue: count": lambda: selectors.department_queue(department.pk).count(),
        "department page: totals": lambda: selectors.department_queue(department.pk).totals(red=Q(due_at__lt=timezone.now())),
        "department list, accepted: page 3": lambda: selectors.visible_list(staff).filter(state__in=["accepted"])[40:60],
        "dispatcher queue: page 1": lambda: selectors.dispatcher_queue()[:20],
        "supervisor (overdue): page 1": lambda: selectors.overdue()[:20],
        "ticket list (dispatcher): page 1": lambda: selectors.visible_list(User.objects.get(username="bench-dispatcher"))[:20],
        "ticket, as its department sees it": lambda: list(selectors.visible_tickets(staff).filter(number=sample_number)),
        "timeline of one ticket": lambda: list(selectors.timeline(ticket)),
    }
    text, used = [], {}
    with connection.cursor() as cursor:
        for label, read in reads.items():
            with CaptureQueriesContext(connection) as captured:
                read()
            plans = []
            for query in captured.captured_queries:
                if "routing_ticket" not in query["sql"] or query["sql"].startswith(("SAVEPOINT", "RELEASE")):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plans.append(query["sql"] + "\n" + "\n".join(row[0] for row in cursor.fetchall()))
            plan = "\n\n".join(plans)
            text.append(f"### {label}\n{plan}\n")
            used[label] = sorted({m.group(1) or f"SEQ SCAN {m.group(2)}" for m in INDEX_USE.finditer(plan)})
    return "\n".join(text), used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    parser.add_argument("--reuse", action="store_true", help="keep hotline_bench if it already holds the tickets")
    parser.add_argument("--budget", type=float, default=45, help="seconds per endpoint, after at least 20 requests (slow endpoints get fewer)")
    args = parser.parse_args()

    result = {"benchmark": "queues", "tickets": args.tickets, "requests": args.requests, "machine": harness.machine()}
    reuse = args.reuse and harness.database_exists(DATABASE)
    if not reuse:
        harness.recreate_database(DATABASE)
    result["migrate_seconds"] = round(harness.migrate(DATABASE), 1)  # a reused database gets new indexes too
    harness.setup_django(DATABASE)
    from routing.models import Ticket, TicketEvent

    if reuse and Ticket.objects.count() < args.tickets:
        raise SystemExit(f"{DATABASE} holds fewer than {args.tickets} tickets: run without --reuse")
    if not reuse:
        print(f"loading {args.tickets} tickets into {DATABASE} …")
        result["load_seconds"] = load(args.tickets)
        print(f"  loaded: {result['load_seconds']}")
    result["rows"] = {"tickets": Ticket.objects.count(), "events": TicketEvent.objects.count()}
    sizes = departments_by_size()
    big, middle = sizes[0], sizes[len(sizes) // 2]
    result["departments"] = {"largest": big, "median": middle}
    keys = tokens()
    rng = random.Random(7)
    max_id = Ticket.objects.order_by("-id").values_list("id", flat=True).first()
    sample_ids = [rng.randrange(1, max_id) for _ in range(args.requests * 3)]
    numbers = list(Ticket.objects.filter(id__in=sample_ids).values_list("number", flat=True))[: args.requests]
    big_numbers = list(Ticket.objects.filter(department__code=big[0]).order_by("?").values_list("number", flat=True)[: args.requests])
    n = args.requests
    print(f"{result['rows']['tickets']} tickets, {result['rows']['events']} events; largest department {big[0]}: {big[1]} tickets ({big[2]} running)")

    with harness.Daphne(DATABASE, log=harness.RESULTS / "queues-daphne.log") as daphne:
        def token(username: str) -> dict[str, str]:
            return {"Authorization": f"Token {keys[username]}"}

        staff_big, staff_mid = token(f"bench-staff-{big[0]}"), token(f"bench-staff-{middle[0]}")
        dispatcher, supervisor = token("bench-dispatcher"), token("bench-supervisor")
        page_big = {"Cookie": session_cookie(f"bench-staff-{big[0]}")}
        page_dispatcher = {"Cookie": session_cookie("bench-dispatcher")}
        page_supervisor = {"Cookie": session_cookie("bench-supervisor")}
        runs = [
            (staff_big, ["/api/v1/queues/mine/"] * n, f"department queue, largest ({big[2]} running)"),
            (staff_mid, ["/api/v1/queues/mine/"] * n, f"department queue, median ({middle[2]} running)"),
            (staff_big, [f"/api/v1/tickets/?state=accepted&page={1 + i % 5}" for i in range(n)], "department ticket list, accepted, pages 1-5"),
            (staff_big, [f"/api/v1/tickets/{x}/events/" for x in big_numbers], "timeline, as the ticket's department"),
            (dispatcher, [f"/api/v1/tickets/{x}/events/" for x in numbers], "timeline, as the dispatcher"),
            (dispatcher, [f"/api/v1/tickets/{x}/" for x in numbers], "one ticket, as the dispatcher"),
            (dispatcher, ["/api/v1/queues/mine/"] * n, "dispatcher queue"),
            (supervisor, ["/api/v1/queues/mine/"] * n, "supervisor queue (overdue)"),
            (dispatcher, [f"/api/v1/tickets/?page={1 + i % 5}" for i in range(n)], "all tickets, pages 1-5 (count over 1M)"),
            (page_big, ["/department/queue/"] * n, "page: department queue, largest (100 cards)"),
            (page_dispatcher, ["/dispatch/queue/"] * n, "page: dispatcher queue (200 cards)"),
            (page_supervisor, ["/supervisor/overdue/"] * n, "page: supervisor overdue list"),
        ]
        for auth, paths, label in runs:  # one warm-up pass over a few requests, then the measured ones
            measure(daphne.base, auth=auth, paths=paths[:5], label="(warm-up) " + label)
        result["endpoints"] = [measure(daphne.base, auth=auth, paths=paths, label=label, budget=args.budget) for auth, paths, label in runs]

        # KPIs: first with every day counted from the timeline, then with the finished days rolled up
        year = f"from={(dt.date.today() - dt.timedelta(days=364)).isoformat()}&to={dt.date.today().isoformat()}"
        kpi_runs = [
            (page_supervisor, ["/supervisor/"] * n, "page: supervisor dashboard (KPIs, last 30 days)"),
            (page_supervisor, ["/supervisor/wall/live/"] * n, "page: wallboard (live part)"),
            (supervisor, ["/api/v1/kpis/?by=department"] * n, "KPIs by department, last 30 days"),
            (supervisor, [f"/api/v1/kpis/?{year}&by=category"] * n, "KPIs by category, last 365 days"),
        ]
        from routing import kpis

        kpis.forget_roll_ups()
        result["kpis_counted"] = [measure(daphne.base, auth=a, paths=p[:20], label="(no roll-ups) " + label, budget=args.budget, minimum=3) for a, p, label in kpi_runs]
        started = time.monotonic()
        days = 0
        while rolled := kpis.roll_up(limit=400):
            days += rolled
        result["roll_up"] = {"days": days, "seconds": round(time.monotonic() - started, 1)}
        print(f"  rolled up {days} days in {result['roll_up']['seconds']} s")
        result["kpis_rolled"] = [measure(daphne.base, auth=a, paths=p, label=label, budget=args.budget) for a, p, label in kpi_runs]

    plans, used = explain_all(big[0], big_numbers[0])
    result["indexes_used"] = used
    result["machine"]["load_after"] = harness.machine()["load_1_5_15"]
    path = harness.save("queues", result)
    plan_path = path.with_suffix(".explain.txt")
    plan_path.write_text(plans, encoding="utf-8")
    print("\nindexes used:")
    for label, names in used.items():
        print(f"  {label:<40} {', '.join(names)}")
    print(f"\nsaved {path} and {plan_path}")


if __name__ == "__main__":
    main()
