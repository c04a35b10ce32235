"""WebSocket: how many connections one daphne process holds, and how fast a queue update reaches 1,000 of them.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline REDIS_URL=redis://127.0.0.1:63799/7 \\
        .venv/bin/python -m benchmarks.websocket --max-connections 4000 --step 500 --clients 1000 --updates 10

1. a fresh database ``hotline_bench_ws``: one department, 50 of its staff (signed
   in: one session each; connections share them round-robin);
2. one daphne process on the Redis channel layer of ``REDIS_URL``;
3. hold: open ``/ws/notifications/`` connections in steps of ``--step`` up to
   ``--max-connections`` (each opening bounded to 10 s), after each step check
   every connection still answers a ping, note daphne's memory; stop at the first
   step where more than 1 % of openings fail or of connections stop answering;
4. fan-out: with ``--clients`` connections open, ``--updates`` times: a ticket of
   the department is dispatched, and the worker's handler for its live update
   (``routing.effects.deliver_group_push``: one ``group_send`` to the department's
   group) is timed from its start to each client's receipt: p50/p95/max over all
   receipts.

Before the fan-out the other connections are closed one after the other without
pause, and after it the ``--clients`` all at once: the department's group in
Redis must then hold only the connections still open (a lost ``group_discard``
leaves a channel there until the group expiry, and ``group_send`` keeps writing
to it). The run counts the channel-layer errors of daphne's log (``Timeout
reading from``, ``MaxConnectionsError``) and the Redis connections of its database.

The clients run in this process (one asyncio loop) on the same machine as
daphne, Redis and PostgreSQL; the worker's own polling delay
(``WORKER_POLL_SECONDS``, 2 s by default) comes on top of the fan-out time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from benchmarks import harness

DATABASE = "hotline_bench_ws"
STAFF = 50


def prepare() -> tuple[list[str], object]:
    """The database, the department and its signed-in staff; returns their session cookies and the department."""
    harness.recreate_database(DATABASE)
    harness.migrate(DATABASE)
    harness.setup_django(DATABASE)
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from routing.models import Department, User
    from routing.roles import Role

    department = Department.objects.create(code="ws-dept", name="市城市管理局")
    User.objects.create(username="ws-dispatcher", role=Role.DISPATCHER)
    User.objects.create(username="ws-agent", role=Role.AGENT)
    cookies = []
    for i in range(STAFF):
        user = User.objects.create(username=f"ws-staff-{i}", role=Role.DEPARTMENT, department=department)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    return cookies, department


async def open_connections(url: str, origin: str, cookies: list[str], count: int, start: int, *, concurrency: int = 50):
    import websockets

    gate = asyncio.Semaphore(concurrency)
    opened, failures, times = [], [], []

    async def one(i: int):
        async with gate:
            started = time.perf_counter()
            try:
                socket = await websockets.connect(
                    url, additional_headers={"Cookie": cookies[i % len(cookies)], "Origin": origin}, open_timeout=10, ping_interval=None, max_queue=64
                )
            except Exception as exc:  # a refused or timed-out opening is what this measures
                failures.append(type(exc).__name__)
                return
            times.append(time.perf_counter() - started)
            opened.append(socket)

    await asyncio.gather(*(one(i) for i in range(start, start + count)))
    return opened, failures, times


async def alive(sockets) -> int:
    """How many of ``sockets`` answer a ping within 10 s."""

    async def check(socket) -> bool:
        try:
            waiter = await socket.ping()
            await asyncio.wait_for(waiter, 10)
            return True
        except Exception:
            return False

    results = await asyncio.gather(*(check(s) for s in sockets))
    return sum(results)


def dispatch_one(department, n: int):
    """Dispatch a new ticket to the department; returns its number and the outbox row of its live update."""
    from routing import actions
    from routing.intake import IntakeRequest, register_ticket
    from routing.models import OutboxMessage, User

    ticket = register_ticket(IntakeRequest(channel="phone", description=f"路灯不亮 {n}", citizen_phone=f"1390000{n:04d}"), by=User.objects.get(username="ws-agent")).ticket
    actions.dispatch_ticket(ticket, department=department, by=User.objects.get(username="ws-dispatcher"))
    message = OutboxMessage.objects.get(kind="ws.group", payload__data__number=ticket.number, payload__data__kind="ticket.dispatched")
    return ticket.number, message


def deliver(message) -> float:
    """What the worker runs for a ``ws.group`` row (routing.effects.deliver_group_push); returns when it started."""
    from routing import effects

    started = time.perf_counter()
    effects.deliver_group_push(message)
    return started


async def fan_out(sockets, department, updates: int) -> dict:
    loop = asyncio.get_running_loop()
    latencies = []
    missing = 0
    for n in range(updates):
        number, message = await loop.run_in_executor(None, dispatch_one, department, n)
        received: list[float] = []

        async def wait_for_update(socket):
            while True:
                frame = json.loads(await socket.recv())
                if frame.get("number") == number and frame.get("kind") == "ticket.dispatched":
                    received.append(time.perf_counter())
                    return

        waiters = [asyncio.ensure_future(asyncio.wait_for(wait_for_update(s), 30)) for s in sockets]
        started = await loop.run_in_executor(None, deliver, message)
        results = await asyncio.gather(*waiters, return_exceptions=True)
        missing += sum(1 for r in results if isinstance(r, Exception))
        latencies += [t - started for t in received]
        summary = harness.summarize([t - started for t in received])
        print(f"  update {n + 1}: {len(received)}/{len(sockets)} clients, p50 {summary.p50_ms:.0f} ms, p95 {summary.p95_ms:.0f} ms, max {summary.max_ms:.0f} ms")
    return {"updates": updates, "receipts": len(latencies), "missing": missing, **harness.summarize(latencies).__dict__}


# What the WebSocket section of docs/BENCHMARKS.md counts in daphne's log: the last line of each
# traceback (daphne's "Exception inside application: ..." line above it repeats only the message).
LOG_ERRORS = {
    "redis_read_timeouts": "redis.exceptions.TimeoutError: Timeout reading from",
    "redis_max_connections": "redis.exceptions.MaxConnectionsError",
}


def count_log_errors(log, offset: int) -> dict:
    """Occurrences of LOG_ERRORS in ``log`` after ``offset`` (this run's part of an appended log)."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    return {name: text.count(needle) for name, needle in LOG_ERRORS.items()}


class DepartmentGroup:
    """The department's group as Redis sees it: the pub/sub layer (hotline/channel_layer.py) keeps members in
    daphne, and Redis holds one subscription per process with members (none once all have left)."""

    def __init__(self, department):
        import redis.asyncio
        from channels.layers import get_channel_layer
        from django.conf import settings

        from routing import groups

        self.raw = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        self.subscription = get_channel_layer().subscription(groups.department(department.pk))
        self.db = int(self.raw.connection_pool.connection_kwargs.get("db", 0))

    async def start(self) -> None:
        pass

    async def _subscribers(self) -> int:
        ((_name, count),) = await self.raw.pubsub_numsub(self.subscription)
        return count

    async def settled(self, open_sockets: int, *, settle: float = 60) -> dict:
        """Subscriptions once daphne has handled the closes (waiting up to ``settle`` s), and the Redis connections of the database."""
        expected = 1 if open_sockets else 0  # one daphne process
        deadline = time.monotonic() + settle
        subscribers = await self._subscribers()
        while subscribers != expected and time.monotonic() < deadline:
            await asyncio.sleep(1)
            subscribers = await self._subscribers()
        connections = sum(1 for c in await self.raw.client_list() if int(c.get("db", -1)) == self.db)
        return {"subscriptions": subscribers, "expected": expected, "open_sockets": open_sockets, "redis_connections_of_db": connections}

    async def close(self) -> None:
        await self.raw.aclose()


async def run(args, daphne, cookies, department) -> dict:
    url, origin = f"ws://127.0.0.1:{daphne.port}/ws/notifications/", daphne.base
    result: dict = {"steps": []}
    sockets: list = []
    base_rss = daphne.rss_mb()
    group = DepartmentGroup(department)
    await group.start()
    while len(sockets) < args.max_connections:
        count = min(args.step, args.max_connections - len(sockets))
        started = time.monotonic()
        opened, failures, times = await open_connections(url, origin, cookies, count, len(sockets))
        sockets += opened
        answering = await alive(sockets)
        opening = harness.summarize(times)
        step = {
            "connections": len(sockets), "answering": answering, "failed_openings": len(failures), "failure_kinds": sorted(set(failures)),
            "open_p50_ms": round(opening.p50_ms, 1), "open_p95_ms": round(opening.p95_ms, 1), "step_seconds": round(time.monotonic() - started, 1),
            "daphne_rss_mb": round(daphne.rss_mb(), 1),
        }  # fmt: skip
        result["steps"].append(step)
        print(f"  {step}")
        # A capacity limit shows as openings refused or sockets gone quiet in numbers; a stray consumer
        # lost to a Redis read timeout (see the daphne log) is noted, not taken for the limit.
        if len(failures) > count * 0.01 or answering < len(sockets) * 0.99:
            break
    healthy = [s for s in result["steps"] if s["failed_openings"] <= s["connections"] * 0.01 and s["answering"] >= s["connections"] * 0.99]
    result["held"] = max((s["answering"] for s in healthy), default=0)
    result["quiet_or_failed"] = {s["connections"]: s["connections"] - s["answering"] + s["failed_openings"] for s in result["steps"]}
    result["daphne_rss_mb_idle"] = round(base_rss, 1)
    # the fan-out with --clients of them (the others closed first)
    for socket in sockets[args.clients :]:
        await socket.close()
    sockets = sockets[: args.clients]
    result["group_after_closing_others"] = await group.settled(len(sockets))
    print(f"  department group after closing the others: {result['group_after_closing_others']}")
    print(f"fan-out to {len(sockets)} clients:")
    result["fan_out"] = await fan_out(sockets, department, args.updates)
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    # before daphne is stopped, or its unfinished disconnects are left in the group for the next run
    result["group_after_closing_all"] = await group.settled(0)
    await group.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-connections", type=int, default=4000)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    if args.clients > args.max_connections:
        raise SystemExit("--clients must not exceed --max-connections")

    cookies, department = prepare()
    from django.conf import settings

    if not settings.REDIS_URL:
        raise SystemExit("benchmarks.websocket: set REDIS_URL (the channel layer of a real deployment)")
    result = {"benchmark": "websocket", "args": vars(args), "machine": harness.machine()}
    log = harness.RESULTS / "websocket-daphne.log"
    offset = log.stat().st_size if log.exists() else 0
    with harness.Daphne(DATABASE, log=log) as daphne:
        result.update(asyncio.run(run(args, daphne, cookies, department)))
    result["machine"]["load_after"] = harness.machine()["load_1_5_15"]
    result["daphne_log_errors"] = count_log_errors(log, offset)
    path = harness.save("websocket", result)
    fan = result["fan_out"]
    print(
        f"\none daphne held {result['held']} connections; a queue update reached {fan['receipts']} receipts "
        f"(p50 {fan['p50_ms']:.0f} ms, p95 {fan['p95_ms']:.0f} ms, max {fan['max_ms']:.0f} ms, {fan['missing']} missing); "
        f"daphne's log: {result['daphne_log_errors']}; department group after closing the others: {result['group_after_closing_others']}, "
        f"after closing all: {result['group_after_closing_all']}; saved {path}"
    )


if __name__ == "__main__":
    main()
