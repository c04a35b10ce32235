"""多线联动: the transfer list of 110/119/120/122 as data, 移交 of a call or ticket in one recorded step (the
other line's reference kept, the live call put through to the line), and matters 110 refers to 12345
registered with their source, once per reference."""

from __future__ import annotations

import importlib
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone

from routing import actions, linkage, outbox
from routing.errors import InvalidInput, NotAllowed, TransitionConflict
from routing.models import EmergencyLine, OutboxMessage, Ticket, TicketEvent
from services.public import tracking
from services.telephony.models import CallRecord

ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
AUTH_TOKEN = "transfer-test-auth-token-0123456789"
HOTLINE_NUMBER = "+8612345000000"


@pytest.fixture
def lines(db):
    """The four lines as migration 0013 fills them (a flushed test database gets them back)."""
    linkage.ensure_default_lines()
    return {line.code: line for line in EmergencyLine.objects.all()}


@pytest.fixture
def api(cast):
    """API clients with tokens taken from the database (the token endpoint is throttled and tested on its own)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def client(name: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=cast[name])[0].key}")
        return c

    return client


def transfer_url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.number}/transfer/"


# --- the transfer list -------------------------------------------------------------------------
def test_the_migration_fills_the_four_lines_and_the_api_lists_them_for_the_hotline(lines, api):
    # given: the lines the migration's data step writes, from nothing
    EmergencyLine.objects.all().delete()
    importlib.import_module("routing.migrations.0013_emergency_lines").fill_lines(django_apps, None)
    assert sorted(EmergencyLine.objects.values_list("code", "name")) == [("110", "公安110"), ("119", "消防119"), ("120", "急救120"), ("122", "交警122")]
    EmergencyLine.objects.filter(code="122").update(active=False)

    # when
    listed = api("agent").get("/api/v1/emergency-lines/")

    # then: active lines only, in order, each with the matters it takes and its keywords
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert [line["code"] for line in body] == ["110", "119", "120"]
    assert body[1]["name"] == "消防119" and "火灾" in body[1]["matters"] and "着火" in body[1]["keywords"] and body[1]["phone"] == "119"
    assert api("dept_own").get("/api/v1/emergency-lines/").status_code == 403


def test_the_line_is_suggested_by_its_keywords(lines):
    assert linkage.suggest("楼下着火了，浓烟很大").code == "119"
    assert linkage.suggest("路口两车追尾，有人受伤流血").code in {"122", "120"}
    assert linkage.suggest("路口两车追尾剐蹭，肇事司机想逃逸").code == "122"
    assert linkage.suggest("小区路灯不亮") is None


# --- 移交 ----------------------------------------------------------------------------------------
def test_transfer_with_the_reference_is_one_public_step_and_the_citizen_is_told(new_ticket, lines, api):
    # given: a web ticket, so no call to put through
    ticket = new_ticket(channel="web", description="有人在小区门口打架斗殴，还有人持刀")

    # when
    body = {"line": "110", "reason": "打架斗殴属治安警情，由公安110处置", "reference": "JQ20261207-0042"}
    response = api("agent").post(transfer_url(ticket), body, format="json")

    # then: final, with the line and its reference, and exactly one event, public
    assert response.status_code == 200, response.content
    shown = response.json()
    assert shown["state"] == "transferred" and shown["state_display"] == "已移交"
    assert shown["transferred_to"] == {"code": "110", "name": "公安110"} and shown["transfer_reference"] == "JQ20261207-0042"
    assert shown["transfer_reason"].startswith("打架斗殴") and shown["available_transitions"] == []
    ticket.refresh_from_db()
    assert ticket.closed_at is not None and ticket.due_at is None
    event = TicketEvent.objects.get(ticket=ticket, kind="ticket.transferred")
    assert event.public and event.from_state == "registered" and event.to_state == "transferred"
    assert event.data == {"line": "110", "line_name": "公安110", "reason": body["reason"], "reference": "JQ20261207-0042"}
    # the citizen's tracking page says where it went; an SMS tells them, and no call is redirected
    steps = [step.label for step in tracking.public_view(ticket).steps]
    assert steps[-1] == "已移交公安110处理"
    assert OutboxMessage.objects.filter(kind="citizen.notify", payload__template="transferred", payload__ticket_id=ticket.pk).count() == 1
    assert not OutboxMessage.objects.filter(kind="call.transfer").exists()
    # and a second transfer is a conflict
    again = api("agent").post(transfer_url(ticket), body, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"


def test_the_reference_recorded_later_is_an_event_and_a_correction_keeps_the_first(new_ticket, lines, api, cast):
    # given: transferred before 120 gave its number
    ticket = actions.transfer_ticket(new_ticket(channel="web"), line=lines["120"], reason="老人晕倒，需急救", by=cast["agent"])
    assert ticket.transfer_reference == ""
    url = f"/api/v1/tickets/{ticket.number}/transfer_reference/"

    # when
    first = api("agent").post(url, {"reference": "120-778899"}, format="json")
    corrected = api("dispatcher").post(url, {"reference": "120-778890"}, format="json")

    # then
    assert first.status_code == 200 and corrected.status_code == 200, (first.content, corrected.content)
    assert corrected.json()["transfer_reference"] == "120-778890" and corrected.json()["state"] == "transferred"
    events = list(TicketEvent.objects.filter(ticket=ticket, kind="ticket.transfer_reference").order_by("id"))
    assert [e.data.get("reference") for e in events] == ["120-778899", "120-778890"]
    assert events[1].data["previous_reference"] == "120-778899" and events[1].data["line"] == "120" and not events[1].public
    assert events[1].to_state == events[1].from_state == "transferred"
    # empty, too long or not text: 400; nothing recorded
    for bad in ({"reference": ""}, {"reference": "   "}, {"reference": "x" * 65}, {"reference": 120}, {}):
        assert api("agent").post(url, bad, format="json").status_code == 400, bad
    assert TicketEvent.objects.filter(ticket=ticket, kind="ticket.transfer_reference").count() == 2


def test_a_reference_only_for_a_transferred_ticket_and_only_by_the_hotline(ticket_in, lines, api, cast):
    dispatched = ticket_in("dispatched")
    url = f"/api/v1/tickets/{dispatched.number}/transfer_reference/"
    assert api("agent").post(url, {"reference": "JQ1"}, format="json").status_code == 409
    assert api("dept_own").post(url, {"reference": "JQ1"}, format="json").status_code == 403
    assert api("dept_other").post(url, {"reference": "JQ1"}, format="json").status_code == 404  # not theirs to see
    with pytest.raises(NotAllowed):
        actions.record_transfer_reference(dispatched, reference="JQ1", by=cast["dept_own"])
    assert not TicketEvent.objects.filter(ticket=dispatched, kind="ticket.transfer_reference").exists()


def test_department_staff_cannot_transfer_and_a_running_ticket_is_a_conflict(ticket_in, lines, api, cast):
    # given: a ticket the department has
    ticket = ticket_in("dispatched")
    before = TicketEvent.objects.filter(ticket=ticket).count()
    body = {"line": "110", "reason": "属治安警情"}

    # when / then
    refused = api("dept_own").post(transfer_url(ticket), body, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    assert api("agent").post(transfer_url(ticket), body, format="json").status_code == 409
    with pytest.raises(TransitionConflict):
        actions.transfer_ticket(ticket, line=lines["110"], reason="属治安警情", by=cast["supervisor"])
    ticket.refresh_from_db()
    assert ticket.state == "dispatched" and TicketEvent.objects.filter(ticket=ticket).count() == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"line": "999", "reason": "x"}, "line"),
        ({"line": 110, "reason": "x"}, "line"),
        ({"line": ["110"], "reason": "x"}, "line"),
        ({"line": "", "reason": "x"}, "line"),
        ({"reason": "x"}, "line"),
        ({"line": "122", "reason": "x"}, "line"),  # switched off in the admin
        ({"line": "110"}, "reason"),
        ({"line": "110", "reason": "   "}, "reason"),
        ({"line": "110", "reason": 110}, "reason"),
        ({"line": "110", "reason": "x", "reference": 42}, "reference"),
        ({"line": "110", "reason": "x", "reference": "J" * 65}, "reference"),
    ],
)
def test_a_bad_transfer_is_a_400_and_nothing_is_written(new_ticket, lines, api, body, field):
    # given
    EmergencyLine.objects.filter(code="122").update(active=False)
    ticket = new_ticket()
    events = TicketEvent.objects.filter(ticket=ticket).count()
    messages = OutboxMessage.objects.count()

    # when
    response = api("agent").post(transfer_url(ticket), body, format="json")

    # then
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"], response.content
    ticket.refresh_from_db()
    assert ticket.state == "registered" and ticket.transferred_to_id is None
    assert TicketEvent.objects.filter(ticket=ticket).count() == events and OutboxMessage.objects.count() == messages


def test_the_action_refuses_an_inactive_line_and_an_empty_reason(new_ticket, lines, cast):
    ticket = new_ticket()
    EmergencyLine.objects.filter(code="119").update(active=False)
    with pytest.raises(InvalidInput):
        actions.transfer_ticket(ticket, line=EmergencyLine.objects.get(code="119"), reason="着火", by=cast["agent"])
    with pytest.raises(InvalidInput):
        actions.transfer_ticket(ticket, line=lines["110"], reason=" ", by=cast["agent"])
    ticket.refresh_from_db()
    assert ticket.state == "registered"


# --- the live call, put through to the line by the outbox --------------------------------------------
class FakeTwilioCalls:
    """A local stand-in for Twilio's Calls API (``POST …/Calls/{CallSid}.json``), for the real ``twilio.rest.Client``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_next: list[int] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with fake.lock:
                    fake.requests.append({"path": self.path, "form": form, "auth": self.headers.get("Authorization")})
                    failure = fake.fail_next.pop(0) if fake.fail_next else None
                prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/"
                if not (self.path.startswith(prefix) and self.path.endswith(".json")):
                    self._send(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                    return
                if failure:
                    code = {400: 21220, 404: 20404}.get(failure, 20500)
                    self._send(failure, {"code": code, "message": "refused", "status": failure})
                    return
                sid = self.path[len(prefix) : -len(".json")]
                self._send(200, {"sid": sid, "account_sid": ACCOUNT_SID, "status": "in-progress", "api_version": "2010-04-01"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def twilio_calls(settings):
    fake = FakeTwilioCalls()
    fake.thread.start()
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_PHONE_NUMBER = ACCOUNT_SID, AUTH_TOKEN, HOTLINE_NUMBER
    settings.TELEPHONY_ENABLED = True
    settings.TWILIO_API_BASE_URL = fake.base_url
    settings.TWILIO_HTTP_TIMEOUT = 5
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


def _deliver_transfers() -> str:
    """Run the outbox rows of kind call.transfer now (the worker's step), leaving other kinds alone; their status."""
    message = OutboxMessage.objects.get(kind="call.transfer")
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now(), claimed_by="test", claimed_until=timezone.now())
    message.refresh_from_db()
    return outbox.deliver(message, worker="test")


def test_a_live_call_is_put_through_to_the_line_through_the_outbox_with_retries(new_ticket, lines, api, twilio_calls):
    # given: a caller on the line, registered at the console (channel id console:<CallSid>:<form token>)
    call_sid = "CA" + uuid.uuid4().hex
    CallRecord.objects.create(call_sid=call_sid, status=CallRecord.Status.IN_PROGRESS, answered=True)
    ticket = new_ticket(channel="phone", channel_ref=f"console:{call_sid}:{uuid.uuid4().hex}", description="家里厨房着火了")
    twilio_calls.fail_next = [503]

    # when: the agent transfers it to 119; the worker's first try meets a down Twilio
    response = api("agent").post(transfer_url(ticket), {"line": "119", "reason": "火警，转消防119"}, format="json")
    assert response.status_code == 200, response.content
    message = OutboxMessage.objects.get(kind="call.transfer")
    assert message.payload == {"ticket_id": ticket.pk, "line": "119", "line_name": "消防119", "number": "119"}
    assert TicketEvent.objects.get(ticket=ticket, kind="ticket.transferred").data["call_redirect"] is True
    assert _deliver_transfers() == OutboxMessage.Status.PENDING  # kept for a retry
    assert not TicketEvent.objects.filter(ticket=ticket, kind="ticket.call_transferred").exists()
    status = _deliver_transfers()

    # then: delivered on the retry, with a <Dial> of the line's number, and on the timeline
    assert status == OutboxMessage.Status.DONE, OutboxMessage.objects.get(kind="call.transfer").last_error
    assert len(twilio_calls.requests) == 2
    sent = twilio_calls.requests[-1]
    assert sent["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}.json" and sent["auth"].startswith("Basic ")
    root = ET.fromstring(sent["form"]["Twiml"])
    assert root.tag == "Response" and "消防119" in root.find("Say").text
    dial = root.find("Dial")
    assert dial.find("Number").text == "119" and dial.get("callerId") == HOTLINE_NUMBER
    noted = TicketEvent.objects.get(ticket=ticket, kind="ticket.call_transferred")
    assert call_sid in noted.data["text"] and "消防119" in noted.data["text"]
    assert OutboxMessage.objects.get(kind="call.transfer").result["call_sid"] == call_sid
    # a redelivery (a worker that died before recording the outcome) sends nothing again
    OutboxMessage.objects.filter(kind="call.transfer").update(status=OutboxMessage.Status.PENDING)
    assert _deliver_transfers() == OutboxMessage.Status.DONE and len(twilio_calls.requests) == 2


def test_an_ended_call_is_not_redirected_and_twilio_refusing_for_good_is_skipped(new_ticket, lines, cast, twilio_calls):
    # given: a voice-message ticket whose call is over
    ended = "CA" + uuid.uuid4().hex
    first = new_ticket(channel="phone", channel_ref=f"call:{ended}")
    CallRecord.objects.create(call_sid=ended, status=CallRecord.Status.COMPLETED, ticket=first)
    actions.transfer_ticket(first, line=lines["110"], reason="治安警情", by=cast["agent"])

    # when / then: skipped without asking Twilio
    assert _deliver_transfers() == OutboxMessage.Status.SKIPPED
    assert twilio_calls.requests == [] and "has ended" in OutboxMessage.objects.get(kind="call.transfer").last_error

    # given: a call Twilio says is no longer in progress (400, 21220)
    OutboxMessage.objects.filter(kind="call.transfer").delete()
    second = new_ticket(channel="phone", channel_ref="CA" + uuid.uuid4().hex)
    actions.transfer_ticket(second, line=lines["120"], reason="急救", by=cast["agent"])
    twilio_calls.fail_next = [400]
    assert _deliver_transfers() == OutboxMessage.Status.SKIPPED and len(twilio_calls.requests) == 1
    assert not TicketEvent.objects.filter(kind="ticket.call_transferred").exists()


# --- 110 转 12345 -------------------------------------------------------------------------------------
NEW = {"channel": "phone", "type": "help", "description": "110转来：小区夜间施工噪音扰民", "citizen": {"name": "刘先生", "phone": "13911112222"}}


def test_registering_to_transfer_at_once_is_not_dispatched_by_an_automatic_rule_in_between(lines, api, departments):
    # given: the catalogue sends gas at once to the gas company (an automatic rule)
    from routing.models import DispatchRule

    DispatchRule.objects.create(name="燃气自动派单", keywords="燃气 煤气", department=departments["city_mgmt"], automatic=True)
    gas = {**NEW, "description": "楼道里很浓的煤气味，邻居家燃气泄漏，敲门没人应"}

    # when: registered as usual, and registered by the console to transfer it at once
    usual = api("agent").post("/api/v1/tickets/", {**gas, "channel_ref": "usual"}, format="json")
    held = api("agent").post("/api/v1/tickets/", {**gas, "channel_ref": "held", "auto_dispatch": False}, format="json")

    # then: the rule dispatches the first; the second stays with the hotline and goes to 119
    assert usual.status_code == 201 and usual.json()["state"] == "dispatched", usual.content
    assert held.status_code == 201 and held.json()["state"] == "registered", held.content
    moved = api("agent").post(f"/api/v1/tickets/{held.json()['number']}/transfer/", {"line": "119", "reason": "燃气泄漏属消防抢险"}, format="json")
    assert moved.status_code == 200 and moved.json()["state"] == "transferred", moved.content
    assert api("agent").post("/api/v1/tickets/", {**gas, "auto_dispatch": "maybe"}, format="json").status_code == 400


def test_a_referral_from_110_is_registered_with_its_source_once(lines, api):
    # given
    body = {**NEW, "referred_from": {"line": "110", "reference": "JQ3301002026120700017"}}

    # when: 110's system sends it, then retries (another channel id: the reference decides)
    first = api("agent").post("/api/v1/tickets/", body, format="json")
    again = api("dispatcher").post("/api/v1/tickets/", {**body, "channel_ref": "retry-1"}, format="json")

    # then
    assert first.status_code == 201 and again.status_code == 200, (first.content, again.content)
    assert again.json()["number"] == first.json()["number"]
    shown = first.json()
    assert shown["referred_from"] == {"code": "110", "name": "公安110"} and shown["referral_reference"] == "JQ3301002026120700017"
    ticket = Ticket.objects.get(number=shown["number"])
    assert Ticket.objects.filter(referred_from=lines["110"]).count() == 1
    registered = TicketEvent.objects.get(ticket=ticket, kind="ticket.registered")
    assert registered.data["referred_from"] == "110" and registered.data["referral_reference"] == "JQ3301002026120700017"
    # the same reference from another line is another matter; the list filters by the source
    other = api("agent").post("/api/v1/tickets/", {**body, "referred_from": {"line": "122", "reference": "JQ3301002026120700017"}}, format="json")
    assert other.status_code == 201
    listed = api("agent").get("/api/v1/tickets/?referred_from=110").json()["results"]
    assert [t["number"] for t in listed] == [ticket.number]
    assert api("agent").get(f"/api/v1/tickets/{ticket.number}/").json()["referral_reference"] == "JQ3301002026120700017"


@pytest.mark.parametrize(
    "referral, field",
    [
        ({"line": "911", "reference": "JQ1"}, "line"),
        ({"line": 110, "reference": "JQ1"}, "line"),
        ({"reference": "JQ1"}, "line"),
        ({"line": "110"}, "reference"),
        ({"line": "110", "reference": ""}, "reference"),
        ({"line": "110", "reference": 17}, "reference"),
        ({"line": "110", "reference": "J" * 65}, "reference"),
        ("110", "non_field_errors"),
    ],
)
def test_a_bad_referral_is_a_400_and_no_ticket_is_written(lines, api, referral, field):
    before = Ticket.objects.count()
    response = api("agent").post("/api/v1/tickets/", {**NEW, "referred_from": referral}, format="json")
    assert response.status_code == 400, response.content
    details = response.json()["error"]["details"]
    assert "referred_from" in details and field in json.dumps(details), details
    assert Ticket.objects.count() == before


def test_the_database_keeps_one_ticket_per_referral(new_ticket, lines):
    from django.db import IntegrityError, transaction

    new_ticket(referred_from=lines["110"], referral_reference="JQ9")
    plain = new_ticket()
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=plain.pk).update(referred_from=lines["110"], referral_reference="JQ9")
    with pytest.raises(IntegrityError), transaction.atomic():  # a source without its reference
        Ticket.objects.filter(pk=plain.pk).update(referred_from=lines["119"])


# --- the pages ------------------------------------------------------------------------------------
def test_the_pages_offer_the_transfer_with_the_matters_and_show_where_it_went(new_ticket, lines, cast):
    # given: a matter for 119, and one 110 referred to us
    fire = new_ticket(channel="web", description="楼道里着火了，冒烟很大")
    referred = new_ticket(referred_from=lines["110"], referral_reference="JQ555")
    client = Client()
    client.force_login(cast["agent"])

    # when / then: the form, the suggested line preselected, what each line takes
    page = client.get(f"/tickets/{fire.number}/").content.decode()
    assert 'data-action="transfer"' in page and "移交110/119/120/122" in page
    assert '<option value="119" selected>消防119（建议）</option>' in page
    assert "公安110：刑事、治安案件" in page and 'name="reference"' in page
    assert "来自公安110转办（对方编号 JQ555）" in client.get(f"/tickets/{referred.number}/").content.decode()
    console = client.get("/console/").content.decode()
    assert 'id="btn-transfer"' in console and 'data-keywords="' in console and "急救120" in console

    # when it is transferred without the line's reference
    actions.transfer_ticket(fire, line=lines["119"], reason="火警", by=cast["agent"])
    page = client.get(f"/tickets/{fire.number}/").content.decode()
    assert "已移交至 消防119" in page and "对方编号待登记" in page and "登记对方编号" in page
    assert "移交" in page and "火警" in page
    actions.record_transfer_reference(fire, reference="119-2026-88", by=cast["agent"])
    page = client.get(f"/tickets/{fire.number}/").content.decode()
    assert "已移交至 消防119</strong>，对方编号 119-2026-88" in page and "登记对方编号" in page  # the timeline's step

    # department staff see no transfer form on their tickets
    client.force_login(cast["dept_own"])
    assert client.get("/console/").status_code == 403
