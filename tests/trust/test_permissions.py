"""Who sees what: every endpoint × every role, as one table.

The ``world`` ticket is dispatched to 市城市管理局 (``dept_own``, lead) with
市水务局 assisting (``dept_assist``); 市住房和城乡建设局 (``dept_other``) has
nothing to do with it. Adding an endpoint is one line in ``TABLE``.

Expected codes, one per role column:

- ``200+``  200, and the answer shows the ticket (its number appears);
- ``200-``  200, and the answer holds none of the ticket's secrets (number,
  citizen's name and phone, a phrase of its description): "no data";
- ``NNN``   that status. Every refusal (4xx) must also hold none of the
  secrets, and a refused POST must leave the ticket and its timeline as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from knowledge import search
from routing import outbox
from routing.api.views import TRANSITIONS
from routing.models import Ticket, TicketEvent
from tests.trust.conftest import CITIZEN_PHONE, ROLES


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {number} and {phone} are filled in from the world ticket
    expect: str  # one code per role, in ROLES order
    body: dict | None = None
    search: bool = False  # the ticket must be in the search index first
    recording: bool = False  # the ticket has a voice message at (local) Twilio: {recording} is its sid

    def codes(self) -> dict[str, str]:
        codes = self.expect.split()
        assert len(codes) == len(ROLES), f"{self.name}: {len(codes)} codes for {len(ROLES)} roles"
        return dict(zip(ROLES, codes))


E = Endpoint
NO_SUCH_APPEAL = 999999  # {appeal}: supervisors get 404 (no such appeal), every other role 403 before any look-up
NEW_TICKET = {"channel": "phone", "type": "inquiry", "description": "咨询公积金提取", "citizen": {"name": "李先生", "phone": "13700001111"}}

# fmt: off
TABLE = [
    #  name                           method  path                                                      agent disp  sup   own   assist other anon
    E("API token, wrong password",    "POST", "/api/v1/auth/token/",                                     "401  401  401  401  401  401  401", {"username": "tr-laoli", "password": "wrong-password"}),
    E("ticket list",                  "GET",  "/api/v1/tickets/",                                        "200+ 200+ 200+ 200+ 200+ 200- 401"),
    E("ticket list, searched",        "GET",  "/api/v1/tickets/?q={number}",                             "200+ 200+ 200+ 200+ 200+ 200- 401", search=True),
    E("ticket list, by words",        "GET",  "/api/v1/tickets/?q=路灯杆倾斜",                            "200+ 200+ 200+ 200+ 200+ 200- 401", search=True),
    E("ticket list, by phone",        "GET",  "/api/v1/tickets/?q={phone}",                              "200+ 200+ 200+ 200- 200- 200- 401", search=True),
    E("ticket list, by department",   "GET",  "/api/v1/tickets/?department=tr-chengguan",                "200+ 200+ 200+ 200+ 200+ 200- 401"),
    E("register a ticket",            "POST", "/api/v1/tickets/",                                        "201  201  201  403  403  403  401", NEW_TICKET),
    E("ticket",                       "GET",  "/api/v1/tickets/{number}/",                               "200+ 200+ 200+ 200+ 200+ 404  401"),
    E("timeline",                     "GET",  "/api/v1/tickets/{number}/events/",                        "200  200  200  200  200  404  401"),
    E("reveal the contact",           "POST", "/api/v1/tickets/{number}/reveal/",                        "200  200  200  200  200  404  401", {"reason": "需电话核实现场情况"}),
    E("accept (签收)",                "POST", "/api/v1/tickets/{number}/accept/",                        "403  403  403  200+ 403  404  401", {}),
    E("request return (退单)",        "POST", "/api/v1/tickets/{number}/request_return/",                "403  403  403  200+ 403  404  401", {"reason": "不属于本单位职责"}),
    E("request extension",            "POST", "/api/v1/tickets/{number}/request_extension/",             "403  403  403  409  409  404  401", {"days": 2, "reason": "需协调"}),
    E("reply (答复)",                 "POST", "/api/v1/tickets/{number}/reply/",                         "403  403  403  409  409  404  401", {"founded": True, "solved": True, "text": "已处理"}),
    E("urge (催办)",                  "POST", "/api/v1/tickets/{number}/urge/",                          "403  200+ 200+ 403  403  404  401", {"note": "请尽快签收"}),
    E("supervise (督办)",             "POST", "/api/v1/tickets/{number}/supervise/",                     "403  403  200+ 403  403  404  401", {"note": "督办"}),
    E("withdraw (撤单)",              "POST", "/api/v1/tickets/{number}/withdraw/",                      "200+ 403  403  403  403  404  401", {}),
    E("dispatch again",               "POST", "/api/v1/tickets/{number}/dispatch/",                      "403  409  409  403  403  404  401", {"department": "tr-zhujian"}),
    E("transfer (移交) a running one", "POST", "/api/v1/tickets/{number}/transfer/",                     "409  409  409  403  403  404  401", {"line": "110", "reason": "属治安警情"}),
    E("transfer reference (对方编号)", "POST", "/api/v1/tickets/{number}/transfer_reference/",         "409  409  409  403  403  404  401", {"reference": "JQ20261207001"}),
    E("unknown transition",           "POST", "/api/v1/tickets/{number}/explode/",                       "404  404  404  404  404  404  401", {}),
    E("my queue",                     "GET",  "/api/v1/queues/mine/",                                    "200  200  200  200+ 200+ 200- 401"),
    E("KPIs",                         "GET",  "/api/v1/kpis/",                                           "403  200  200  403  403  403  401"),
    E("KPI report export",            "GET",  "/api/v1/kpis/export/?by=department&format=csv",          "403  200  200  403  403  403  401"),
    E("my queue export",              "GET",  "/api/v1/queues/mine/export/?format=csv",                  "200  200  200  200+ 200+ 200- 401"),
    E("ticket list export",           "GET",  "/api/v1/tickets/export/?format=csv",                      "200+ 200+ 200+ 200+ 200+ 200- 401"),
    E("classify (no model trained)",  "POST", "/api/v1/classify/",                                       "409  409  409  403  403  403  401", {"text": "路灯不亮"}),
    E("repeats (重复件)",             "POST", "/api/v1/repeats/",                                        "200  200  200  403  403  403  401", {"text": "路灯不亮"}),
    E("hot issues",                   "GET",  "/api/v1/hotspots/issues/",                                "403  200  200  403  403  403  401"),
    E("hot issues export",            "GET",  "/api/v1/hotspots/issues/export/?format=csv",              "403  200  200  403  403  403  401"),
    E("assess a reply (答复评估)",    "POST", "/api/v1/replies/assess/",                                 "403  200  200  200  200  404  401", {"ticket": "{number}", "reply": "经查，路灯线路老化，已于3月2日更换。"}),
    E("reply quality per department", "GET",  "/api/v1/kpis/replies/",                                   "403  200  200  403  403  403  401"),
    E("reply quality export",         "GET",  "/api/v1/kpis/replies/export/?format=csv",                 "403  200  200  403  403  403  401"),
    E("dispute KPIs (派单异议)",      "GET",  "/api/v1/kpis/disputes/",                                  "403  200  200  403  403  403  401"),
    E("dispute report export",        "GET",  "/api/v1/kpis/disputes/export/?format=csv",                "403  200  200  403  403  403  401"),
    E("ratings per type (分类评价)",  "GET",  "/api/v1/kpis/ratings/",                                   "403  200  200  403  403  403  401"),
    E("ratings report export",        "GET",  "/api/v1/kpis/ratings/export/?format=csv",                 "403  200  200  403  403  403  401"),
    E("appeal a rating (复核申诉)",   "POST", "/api/v1/tickets/{number}/appeals/",                       "403  403  403  409  409  404  401", {"subject": "rating", "reason": "市民诉求超出职责范围"}),
    E("leave a red card out",         "POST", "/api/v1/tickets/{number}/kpi-exclusions/",                "403  403  409  403  403  403  401", {"subject": "red_card", "reason": "恶意差评"}),
    E("appeals",                      "GET",  "/api/v1/appeals/",                                        "403  403  200  200  200  200- 401"),
    E("appeals export",               "GET",  "/api/v1/appeals/export/?format=csv",                      "403  403  200  200  200  200- 401"),
    E("decide an appeal",             "POST", "/api/v1/appeals/{appeal}/decide/",                           "403  403  404  403  403  403  401", {"upheld": True, "reason": "属实"}),
    E("dispatch catalogue",           "GET",  "/api/v1/catalogue/",                                      "200  200  200  200  200  200  401"),
    E("transfer list (移交目录)",     "GET",  "/api/v1/emergency-lines/",                                "200  200  200  403  403  403  401"),
    E("ticket list, referred by 110", "GET",  "/api/v1/tickets/?referred_from=110",                      "200- 200- 200- 200- 200- 200- 401"),
    E("departments",                  "GET",  "/api/v1/departments/",                                    "200  200  200  200  200  200  401"),
    E("categories",                   "GET",  "/api/v1/categories/",                                     "200  200  200  200  200  200  401"),
    E("areas",                        "GET",  "/api/v1/areas/",                                          "200  200  200  200  200  200  401"),
    E("knowledge search",             "GET",  "/api/v1/knowledge/search/?q=路灯",                        "200  200  200  200  200  200- 401", search=True),
    E("ticket search, by number",     "GET",  "/api/v1/knowledge/tickets/?number={number}",              "200+ 200+ 200+ 200+ 200+ 200- 401", search=True),
    E("ticket search, by words",      "GET",  "/api/v1/knowledge/tickets/?q=路灯杆倾斜",                 "200+ 200+ 200+ 200+ 200+ 200- 401", search=True),
    E("ticket search, by phone",      "GET",  "/api/v1/knowledge/tickets/?phone={phone}",                "200+ 200+ 200+ 403  403  403  401", search=True),
    E("suggestions while typing",     "POST", "/api/v1/knowledge/suggest/",                              "200  200  200  200  200  200- 401", {"text": "路灯杆倾斜"}, search=True),
    E("suggestions with the caller's phone", "POST", "/api/v1/knowledge/suggest/",                       "200+ 200+ 200+ 403  403  403  401", {"text": "路灯杆倾斜", "phone": CITIZEN_PHONE}, search=True),
    E("public tracking",              "GET",  "/api/v1/public/track/?number={number}&phone={phone}",     "200+ 200+ 200+ 200+ 200+ 200+ 200+"),
    E("public tracking, wrong phone", "GET",  "/api/v1/public/track/?number={number}&phone=13000000000", "404  404  404  404  404  404  404"),
    E("voicemail recording (收听录音)", "GET",  "/twilio/recordings/{number}/{recording}.mp3",          "200  200  200  200  200  404  302", recording=True),
    E("chat: agent's socket token",   "GET",  "/chat/agent/token/",                                      "200  200  200  403  403  403  401"),
    E("missed calls (漏接回拨)",      "GET",  "/api/v1/calls/missed/",                                   "200  200  200  403  403  403  401"),
    E("missed calls export",          "GET",  "/api/v1/calls/missed/export/?format=csv",                 "200  200  200  403  403  403  401"),
    E("call back an unknown call",    "POST", "/api/v1/calls/missed/CA00000000000000000000000000000000/", "404  404  404  403  403  403  401", {"result": "reached"}),
    E("admin: tickets",               "GET",  "/admin/routing/ticket/",                                  "302  302  302  302  302  302  302"),
    E("page: ticket",                 "GET",  "/tickets/{number}/",                                      "200+ 200+ 200+ 200+ 200+ 404  302"),
    E("page: agent console",          "GET",  "/console/",                                               "200  200  200  403  403  403  302"),
    E("page: callbacks",              "GET",  "/console/callbacks/",                                     "200  200  200  403  403  403  302"),
    E("page: dispatch desk",          "GET",  "/dispatch/",                                              "403  200  200  403  403  403  302"),
    E("page: dispatch queue",         "GET",  "/dispatch/queue/",                                        "403  200  200  403  403  403  302"),
    E("page: department workspace",   "GET",  "/department/",                                            "403  403  403  200+ 200+ 200- 302"),
    E("page: department queue",       "GET",  "/department/queue/",                                      "403  403  403  200+ 200+ 200- 302"),
    E("page: supervisor",             "GET",  "/supervisor/",                                            "403  403  200  403  403  403  302"),
    E("page: overdue",                "GET",  "/supervisor/overdue/",                                    "403  403  200  403  403  403  302"),
    E("page: wallboard",              "GET",  "/supervisor/wall/",                                       "403  403  200  403  403  403  302"),
    E("page: wallboard, live part",   "GET",  "/supervisor/wall/live/",                                  "403  403  200  403  403  403  302"),
]
# fmt: on

CASES = [pytest.param(endpoint, role, id=f"{endpoint.name}-{role}") for endpoint in TABLE for role in ROLES]


def _snapshot(ticket: Ticket) -> tuple:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return fresh.state, fresh.updated_at, TicketEvent.objects.filter(ticket=ticket).count()


@pytest.fixture
def indexed(settings):
    """The search index holds exactly this test's tickets (our own index prefix), torn down after."""
    search.delete_all()
    yield lambda: (outbox.drain(), search.refresh())
    search.delete_all()


@pytest.fixture
def voicemail(world, settings):
    """The world ticket got a voice message; a local Twilio (tests/services/telephony) serves its audio."""
    import uuid

    from services.telephony.models import CallRecord
    from tests.services.telephony.conftest import serving_fake_twilio

    sid = "RE" + uuid.uuid4().hex
    CallRecord.objects.create(call_sid="CA" + uuid.uuid4().hex, ticket=world.ticket, recording_sid=sid, recording_duration=12)
    with serving_fake_twilio(settings, configure_account=True, recordings={sid: b"ID3\x03\x00\xff\xfb"}):
        yield sid


@pytest.mark.parametrize("endpoint,role", CASES)
def test_who_sees_what(endpoint: Endpoint, role: str, world, client_for, request):
    # given
    expected = endpoint.codes()[role]
    if endpoint.search:
        request.getfixturevalue("indexed")()
    recording = request.getfixturevalue("voicemail") if endpoint.recording else ""
    path = endpoint.path.format(number=world.number, phone=CITIZEN_PHONE, recording=recording, appeal=NO_SUCH_APPEAL)
    before = _snapshot(world.ticket)
    client = client_for(role)

    # when
    if endpoint.method == "GET":
        response = client.get(path)
    else:
        body = {k: v.format(number=world.number) if isinstance(v, str) else v for k, v in (endpoint.body or {}).items()}
        response = client.post(path, body, format="json")

    # then
    status = int(expected.rstrip("+-"))
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode("utf-8", "replace")
    assert response.status_code == status, f"{endpoint.method} {path} as {role}: {response.status_code} {body[:300]}"
    must_hide = expected.endswith("-") or status >= 400
    if must_hide:
        leaked = [secret for secret in world.secrets if secret in body]
        assert not leaked, f"{endpoint.method} {path} as {role} shows {leaked}"
    if expected.endswith("+"):
        assert world.number in body, f"{endpoint.method} {path} as {role} does not show the ticket"
    if status >= 400 and endpoint.method == "POST":
        assert _snapshot(world.ticket) == before, "a refused request changed the ticket"
    if status >= 400 and response.get("Content-Type", "").startswith("application/json") and path.startswith("/api/"):
        assert set(response.json()) == {"error"}, body[:300]
        assert {"code", "message", "details"} <= set(response.json()["error"]), body[:300]


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
def test_every_transition_of_another_department_is_not_found_and_changes_nothing(transition, world, client_for):
    # given: staff of a department that has nothing to do with the ticket
    client = client_for("dept_other")
    before = _snapshot(world.ticket)

    # when
    response = client.post(f"/api/v1/tickets/{world.number}/{transition}/", {"reason": "x", "note": "x", "text": "x"}, format="json")

    # then
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert _snapshot(world.ticket) == before


def test_merging_into_a_ticket_one_cannot_see_is_refused(world, cast, new_ticket, departments, client_for):
    # given: a dispatcher-visible ticket, and the department's own ticket to merge
    from routing import actions

    hidden = new_ticket(citizen_phone="13600000000")
    mine = actions.dispatch_ticket(new_ticket(citizen_phone="13600000001"), department=departments["other"], by=cast["dispatcher"])

    # when: staff of another department name the hidden ticket as the target
    response = client_for("dept_other").post(f"/api/v1/tickets/{mine.number}/merge/", {"into": hidden.number}, format="json")

    # then: never a merge, and the same answer as for a number that does not exist (no existence oracle)
    missing = client_for("dept_other").post(f"/api/v1/tickets/{mine.number}/merge/", {"into": "20990101-000001"}, format="json")
    assert response.status_code == missing.status_code == 400, (response.content, missing.content)
    assert response.json() == missing.json()
    assert response.json()["error"]["details"]["into"]
    assert hidden.number not in response.content.decode()
    assert Ticket.objects.get(pk=mine.pk).merged_into_id is None


# --- live updates ---------------------------------------------------------------------
def _socket_for(user) -> WebsocketCommunicator:
    from hotline.asgi import application

    client = Client()
    client.force_login(user)
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


@pytest.mark.django_db(transaction=True)
def test_live_queue_updates_reach_the_departments_of_the_ticket_only(cast, departments, new_ticket):
    from routing import actions

    sockets = {role: _socket_for(cast[role]) for role in ("dept_own", "dept_assist", "dept_other", "dispatcher")}

    async def scenario():
        for role, socket in sockets.items():
            connected, _ = await socket.connect(timeout=5)
            assert connected, role
        try:
            # when: the ticket is dispatched and the worker delivers the live update
            def dispatch_and_deliver():
                ticket = new_ticket()
                actions.dispatch_ticket(ticket, department=departments["own"], assisting=[departments["assist"]], by=cast["dispatcher"])
                outbox.drain()
                return ticket.number

            number = await sync_to_async(dispatch_and_deliver)()

            # then
            for role in ("dept_own", "dept_assist", "dispatcher"):
                frames = []
                while True:
                    frame = await sockets[role].receive_json_from(timeout=5)
                    frames.append(frame)
                    if frame.get("number") == number and frame.get("kind") == "ticket.dispatched":
                        break
            assert await sockets["dept_other"].receive_nothing(timeout=1)
        finally:
            for socket in sockets.values():
                await socket.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_anonymous_live_updates_socket_is_refused():
    from hotline.asgi import application

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")])
        connected, code = await socket.connect(timeout=5)
        assert not connected
        assert code == 4401

    async_to_sync(scenario)()


def test_the_table_covers_every_routing_api_path():
    """A new routing API path without a line in TABLE fails here."""
    from routing.api.urls import urlpatterns
    from routing.api.views import transition_views

    covered = {json.dumps(e.path.split("?")[0]) for e in TABLE}
    for pattern in urlpatterns:
        route = "/api/v1/" + str(pattern.pattern).replace("<str:number>", "{number}").replace("<int:appeal_id>", "{appeal}")
        if "<str:transition>" in route or getattr(pattern.callback, "view_class", None) in transition_views.values():
            continue  # every transition is in test_every_transition_of_another_department_...
        assert json.dumps(route) in covered, f"{route} has no line in TABLE"
