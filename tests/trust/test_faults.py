"""Faults against real services, each bounded in time (see tests/trust/procs.py).

- Elasticsearch stopped while tickets are registered (a second node of our own);
- Redis stopped under pages, intake and live updates (a redis-server of our own);
- the Twilio API answering 500 and 429 (the telephony tests' local Twilio);
- the worker killed mid-delivery (a real ``manage.py run_worker``, SIGKILL);
- two processes acting on one ticket (two real daphne processes).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from knowledge import search
from knowledge.search import TicketQuery
from routing import actions, outbox
from routing.models import OutboxMessage, Ticket, TicketEvent
from tests.trust import procs
from tests.trust.conftest import CITIZEN_PHONE

pytestmark = pytest.mark.slow

TICKET = {"channel": "phone", "type": "complaint", "description": "东华街道路灯不亮", "citizen": {"name": "赵女士", "phone": "13700004444"}}


@pytest.fixture
def workdir():
    path = procs.temp_dir("trust-fault-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _deliver_until(predicate, *, timeout: float, what: str):
    """Run the outbox, as the worker does, until ``predicate()`` holds."""

    def step():
        outbox.drain()
        return predicate()

    return procs.wait_until(step, timeout=timeout, what=what, interval=0.5)


# --- Elasticsearch -----------------------------------------------------------------------------------
@pytest.fixture
def own_elasticsearch(workdir, settings):
    node = procs.ElasticNode(workdir, name="search")
    node.start()
    settings.ELASTICSEARCH_URL = node.url
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.SEARCH_INDEX_PREFIX = "trustfault"
    yield node
    node.stop()


def _indexed_numbers() -> set[str]:
    search.refresh()
    page = search.search_tickets(TicketQuery(text="", size=100))
    return {hit.number for hit in page.results}


def test_elasticsearch_down_registration_works_search_degrades_and_the_index_catches_up(own_elasticsearch, client_for, new_ticket):
    # given: a ticket indexed while the node is up
    first = new_ticket()
    outbox.drain()
    assert _indexed_numbers() == {first.number}

    # when: the node dies, and tickets keep coming in through the API
    own_elasticsearch.kill()
    agent = client_for("agent")
    numbers = []
    for n in range(3):
        response = agent.post("/api/v1/tickets/", {**TICKET, "description": f"路灯不亮，第{n}次反映"}, format="json")
        assert response.status_code == 201, response.content
        numbers.append(response.json()["number"])
    before = timezone.now()
    stats = outbox.drain()
    after = timezone.now()

    # then: the index updates wait in the outbox, with back-off (2 s ±20 % after the first failure)
    pending = OutboxMessage.objects.filter(kind="search.ticket", status=OutboxMessage.Status.PENDING)
    assert stats.retried >= 3 and pending.count() >= 3
    for message in pending:
        assert message.attempts == 1 and message.last_error
        assert message.next_attempt_at - before >= timedelta(seconds=1.6) and message.next_attempt_at - after <= timedelta(seconds=2.4)
    # search says clearly that it is degraded (503 in the error shape), the rest of the API works
    answer = agent.get("/api/v1/knowledge/tickets/", {"q": "路灯"})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "search_unavailable" and "暂时不可用" in answer.json()["error"]["message"]
    assert agent.post("/api/v1/knowledge/suggest/", {"text": "路灯不亮"}, format="json").status_code == 503
    assert agent.get(f"/api/v1/tickets/{numbers[0]}/").status_code == 200
    health = Client().get("/healthz")
    assert health.status_code == 503 and health.json()["down"] == ["search"]

    # when: the node comes back
    own_elasticsearch.start()

    # then: the outbox catches the index up, nothing missing
    _deliver_until(lambda: not OutboxMessage.objects.filter(kind="search.ticket").exclude(status=OutboxMessage.Status.DONE).exists(), timeout=60, what="the search outbox to drain")
    assert _indexed_numbers() == set(Ticket.objects.values_list("number", flat=True)) == {first.number, *numbers}
    assert agent.get("/api/v1/knowledge/tickets/", {"q": "路灯"}).status_code == 200


# --- Redis -----------------------------------------------------------------------------------------------
@pytest.fixture
def own_redis(workdir, settings):
    server = procs.RedisServer(workdir)
    server.start()
    settings.REDIS_URL = server.url
    # The project's own cache configuration (backend, options), pointed at this Redis.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    # …and the project's own channel layer configuration (timeouts, pool), likewise.
    layer = settings.CHANNEL_LAYERS["default"]
    hosts = [{**host, "address": server.url} for host in layer["CONFIG"]["hosts"]]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": hosts}}}
    yield server
    server.stop()


def _report_form() -> dict:
    from services.public.forms import new_form_token

    return {"form_token": new_form_token(), "type": "help", "description": "井盖丢失", "phone": "13700005555", "homepage": ""}


def _open311_request() -> dict:
    from services.public import demo

    demo.load()
    return {"api_key": demo.DEMO_OPEN311_KEY, "service_code": "tr010101", "description": "路灯坏了", "lat": "39.1", "long": "117.2"}


# (name, how to send it, statuses that are fine with Redis down)
# fmt: off
REDIS_DOWN = [
    pytest.param("API intake",            lambda c, w: c["agent"].post("/api/v1/tickets/", TICKET, format="json"), {201}, id="api-intake"),
    pytest.param("API ticket",            lambda c, w: c["dept_own"].get(f"/api/v1/tickets/{w.number}/"), {200}, id="api-ticket"),
    pytest.param("API transition",        lambda c, w: c["dept_own"].post(f"/api/v1/tickets/{w.number}/accept/", {}, format="json"), {200}, id="api-accept"),
    pytest.param("home page",             lambda c, w: c["anonymous"].get("/"), {200}, id="home"),
    pytest.param("home page, signed in",  lambda c, w: c["dispatcher"].get("/"), {200}, id="home-staff"),
    pytest.param("login page",            lambda c, w: c["anonymous"].get("/accounts/login/"), {200}, id="login-page"),
    pytest.param("web form page",         lambda c, w: c["anonymous"].get("/report/"), {200}, id="report-page"),
    pytest.param("tracking page",         lambda c, w: c["anonymous"].get("/track/"), {200}, id="track-page"),
    pytest.param("login",                 lambda c, w: c["anonymous"].post("/accounts/login/", {"username": "tr-laoli", "password": "x"}), {200}, id="login"),
    pytest.param("API token",             lambda c, w: c["anonymous"].post("/api/v1/auth/token/", {"username": "tr-laoli", "password": "x"}, format="json"), {400, 401}, id="api-token"),
    pytest.param("web form intake",       lambda c, w: c["anonymous"].post("/report/", _report_form()), {200}, id="report-intake"),
    pytest.param("tracking",              lambda c, w: c["anonymous"].get("/api/v1/public/track/", {"number": w.number, "phone": CITIZEN_PHONE}), {200}, id="tracking"),
    pytest.param("starting a chat",       lambda c, w: c["anonymous"].post("/chat/start/", {"name": "王女士"}), {201}, id="chat-start"),
    pytest.param("Open311 POST",          lambda c, w: c["anonymous"].post("/open311/v2/requests.json", _open311_request()), {200}, id="open311-post"),
]
# fmt: on


@pytest.mark.parametrize("name,send,fine", REDIS_DOWN)
def test_redis_down_pages_and_intake_keep_working(name, send, fine, own_redis, world, client_for):
    # given
    clients = {role: client_for(role) for role in ("agent", "dispatcher", "dept_own", "anonymous")}
    own_redis.kill()

    # when
    response = send(clients, world)

    # then
    assert response.status_code in fine, f"{name} with Redis down: {response.status_code}"


@pytest.mark.django_db(transaction=True)
def test_redis_down_live_updates_resume_after_restart(own_redis, workdir, cast, departments, new_ticket, settings):
    """A real daphne on our own Redis; the client reconnects like frontend/static/js/hotline.js does."""
    import websockets

    env = procs.project_env(connection.settings_dict["NAME"], REDIS_URL=own_redis.url)
    daphne, port = procs.start_daphne(env, workdir / "daphne.log")
    session = Client()
    session.force_login(cast["dept_own"])
    cookie = f"sessionid={session.cookies['sessionid'].value}"
    url = f"ws://127.0.0.1:{port}/ws/notifications/"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}

    async def connect():
        return await websockets.connect(url, additional_headers=headers, open_timeout=5)

    async def next_update(socket, number: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), max(deadline - time.monotonic(), 0.1)))
            if frame.get("number") == number:
                return frame

    async def scenario():
        socket = await connect()
        try:
            # live updates flow while Redis is up
            ticket = await _sync(lambda: new_ticket(citizen_phone="13700006666"))
            await _sync(lambda: (actions.dispatch_ticket(ticket, department=departments["own"], by=cast["dispatcher"]), outbox.drain()))
            assert (await next_update(socket, ticket.number, 10))["kind"] == "ticket.dispatched"

            # Redis dies; a step taken meanwhile waits in the outbox
            own_redis.kill()
            later = await _sync(lambda: new_ticket(citizen_phone="13700007777"))
            await _sync(lambda: (actions.dispatch_ticket(later, department=departments["own"], by=cast["dispatcher"]), outbox.drain()))
            waiting = await _sync(lambda: OutboxMessage.objects.get(kind="ws.group", payload__data__number=later.number, payload__data__kind="ticket.dispatched"))
            assert waiting.status == OutboxMessage.Status.PENDING and waiting.attempts == 1

            # the server closes the socket it can no longer serve (the page reconnects on close)
            closed = await _closed_within(socket, 15)
            assert closed, "the socket stays open but silent after Redis died: the page would never reconnect"

            # Redis is back; the page reconnects and the waiting update arrives
            own_redis.start()
            socket = await _reconnect(connect, timeout=30)
            await _sync(lambda: _deliver_until(lambda: OutboxMessage.objects.get(pk=waiting.pk).status == OutboxMessage.Status.DONE, timeout=30, what="the waiting live update"))
            assert (await next_update(socket, later.number, 10))["kind"] == "ticket.dispatched"
        finally:
            await socket.close()

    try:
        async_to_sync(scenario)()
    finally:
        daphne.stop()


async def _sync(fn):
    from asgiref.sync import sync_to_async

    return await sync_to_async(fn, thread_sensitive=True)()


async def _closed_within(socket, timeout: float) -> bool:
    import websockets

    try:
        while True:
            await asyncio.wait_for(socket.recv(), timeout)
    except websockets.ConnectionClosed:
        return True
    except asyncio.TimeoutError:
        return False


async def _reconnect(connect, *, timeout: float):
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return await connect()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2)


# --- Twilio answering 500 and 429 ---------------------------------------------------------------------------
@pytest.fixture
def twilio(settings):
    from tests.services.telephony.conftest import serving_fake_twilio

    with serving_fake_twilio(settings, configure_account=True) as fake:
        yield fake


def _fast_forward(message: OutboxMessage) -> None:
    """Let the back-off pass (it was asserted before): the retry is due now."""
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_twilio_500_and_429_are_retried_with_back_off_and_the_sms_is_sent_once(twilio, new_ticket):
    from services.telephony.models import SmsMessage

    # given: Twilio fails the first three creates
    twilio.fail_next = [500, 429, 500]
    ticket = new_ticket(citizen_phone="13700008888")
    message = OutboxMessage.objects.get(kind="citizen.notify", payload__ticket_id=ticket.pk)

    # when / then: each failure is retried later, with the outbox's back-off (2 s, 4 s, 8 s, ±20 % jitter)
    for attempt, base in enumerate((2, 4, 8), start=1):
        before = timezone.now()
        outbox.drain()
        after = timezone.now()
        message.refresh_from_db()
        assert message.status == OutboxMessage.Status.PENDING and message.attempts == attempt, message.last_error
        # the failure happened between before and after, so the delay lies between these two readings
        assert (message.next_attempt_at - before).total_seconds() >= base * 0.8 - 0.01, (attempt, message.next_attempt_at - before)
        assert (message.next_attempt_at - after).total_seconds() <= base * 1.2 + 0.01, (attempt, message.next_attempt_at - after)
        _fast_forward(message)

    outbox.drain()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.DONE
    # delivered once: one message at Twilio, one SMS row, marked sent with Twilio's id
    assert len(twilio.messages) == 1 and len(twilio.creates()) == 4
    sms = SmsMessage.objects.get(outbox_key=message.idempotency_key)
    assert sms.status == SmsMessage.Status.SENT and sms.message_sid == twilio.messages[0]["sid"]
    # draining again sends nothing more
    outbox.drain()
    assert len(twilio.creates()) == 4


def test_twilio_retries_keep_the_citizens_number_out_of_the_logs(twilio, new_ticket, caplog):
    twilio.fail_next = [500]
    ticket = new_ticket(citizen_phone="13700008888")
    message = OutboxMessage.objects.get(kind="citizen.notify", payload__ticket_id=ticket.pk)
    outbox.drain()
    _fast_forward(message)
    outbox.drain()  # the uncertain first attempt is looked up at Twilio before sending again
    assert not [r.getMessage() for r in caplog.records if "13700008888" in r.getMessage()]


# --- the worker killed mid-delivery -------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(twilio, workdir, new_ticket, cast, departments):
    from services.telephony.models import SmsMessage
    from tests.services.telephony.conftest import ACCOUNT_SID, AUTH_TOKEN, HOTLINE_NUMBER

    # given: a ticket with its side effects waiting, and Twilio slow to answer the first SMS
    twilio.slow_next, twilio.slow_seconds = 1, 60
    ticket = new_ticket(citizen_phone="13700009999")
    ticket = actions.dispatch_ticket(ticket, department=departments["own"], by=cast["dispatcher"])
    expected = set(OutboxMessage.objects.values_list("pk", flat=True))
    sms_message = OutboxMessage.objects.get(kind="citizen.notify")
    env = procs.project_env(
        connection.settings_dict["NAME"],
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_PHONE_NUMBER=HOTLINE_NUMBER,
        TRUST_TWILIO_API_BASE_URL=twilio.base_url, TRUST_TWILIO_HTTP_TIMEOUT="90",
    )  # fmt: skip

    # when: a real worker is killed (SIGKILL) while Twilio holds its request
    worker = procs.start_worker(env, workdir / "worker-1.log")
    try:
        procs.wait_until(lambda: len(twilio.creates()) == 1 or not worker.running(), timeout=60, what="the worker's SMS request")
        assert worker.running(), worker.output()
        worker.kill()
    finally:
        worker.stop()

    # then: the message is neither lost nor marked done; the SMS row says its outcome is unknown
    sms_message.refresh_from_db()
    assert sms_message.status == OutboxMessage.Status.PENDING and sms_message.claimed_by and sms_message.claimed_until > timezone.now()
    assert SmsMessage.objects.get(outbox_key=sms_message.idempotency_key).status == SmsMessage.Status.SENDING

    # when: the claim's lease runs out (two minutes in real time: moved forward here) and a new worker runs
    OutboxMessage.objects.filter(claimed_until__isnull=False).update(claimed_until=timezone.now())
    second = procs.start_worker(env, workdir / "worker-2.log")
    try:
        procs.wait_until(
            lambda: not OutboxMessage.objects.filter(pk__in=expected).exclude(status=OutboxMessage.Status.DONE).exists() or not second.running(),
            timeout=90, what="the second worker to deliver everything",
        )  # fmt: skip
        assert second.running(), second.output()
    finally:
        second.stop()

    # then: everything delivered, the SMS exactly once (found at Twilio, not sent again)
    statuses = dict(OutboxMessage.objects.filter(pk__in=expected).values_list("kind", "status").distinct())
    assert set(statuses.values()) == {OutboxMessage.Status.DONE}, statuses
    assert len(twilio.creates()) == 1 and len(twilio.messages) == 1
    sms = SmsMessage.objects.get(outbox_key=sms_message.idempotency_key)
    assert sms.status == SmsMessage.Status.SENT and sms.message_sid == twilio.messages[0]["sid"]
    assert OutboxMessage.objects.get(pk=sms_message.pk).result.get("found_at_twilio") is True


# --- two processes acting on one ticket -----------------------------------------------------------------------
def _post(url: str, token: str, results: list) -> None:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            results.append((response.status, json.loads(response.read())))
    except urllib.error.HTTPError as exc:
        results.append((exc.code, json.loads(exc.read())))


@pytest.mark.django_db(transaction=True)
def test_two_processes_accepting_one_ticket_one_wins_the_other_gets_409(workdir, world, cast):
    # given: two daphne processes, and the ticket's row held by a third connection so both requests meet
    env = procs.project_env(connection.settings_dict["NAME"])
    a, port_a = procs.start_daphne(env, workdir / "daphne-a.log")
    b, port_b = procs.start_daphne(env, workdir / "daphne-b.log")
    token = Token.objects.create(user=cast["dept_own"]).key
    db = connection.settings_dict
    dsn = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db.get("PASSWORD") or None, "dbname": db["NAME"]}
    holder = psycopg.connect(**dsn, autocommit=False)
    try:
        holder.execute("SELECT id FROM routing_ticket WHERE id = %s FOR UPDATE", [world.ticket.pk])
        results: list = []
        threads = [
            threading.Thread(target=_post, args=(f"http://127.0.0.1:{port}/api/v1/tickets/{world.number}/accept/", token, results)) for port in (port_a, port_b)
        ]
        for thread in threads:
            thread.start()

        def both_waiting() -> bool:
            with psycopg.connect(**dsn, autocommit=True) as probe:
                row = probe.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [db["NAME"]]).fetchone()
                return row[0] >= 2

        # when: both processes wait on the row, then it is released
        procs.wait_until(both_waiting, timeout=30, what="both processes to wait on the ticket's row")
        holder.commit()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        holder.close()
        a.stop()
        b.stop()

    # then: one accepted, the other was told the ticket changed under it
    codes = sorted(status for status, _ in results)
    assert codes == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert loser["error"]["code"] in {"invalid_state", "concurrent_change"}
    assert Ticket.objects.get(pk=world.ticket.pk).state == "accepted"
    assert TicketEvent.objects.filter(ticket=world.ticket, kind="ticket.accepted").count() == 1


# --- oversize bodies through a real daphne ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_daphne_with_the_body_limit_refuses_an_oversize_api_body(workdir, cast):
    from django.conf import settings

    env = procs.project_env(connection.settings_dict["NAME"])
    daphne, port = procs.start_daphne(env, workdir / "daphne.log", application="tests.trust.asgi_limited:application")
    token = Token.objects.create(user=cast["agent"]).key
    body = json.dumps({**TICKET, "description": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tickets/", data=body, method="POST", headers={"Authorization": f"Token {token}", "Content-Type": "application/json"}
    )
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
    finally:
        daphne.stop()
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["code"] == "too_large"
    assert not Ticket.objects.exists()
