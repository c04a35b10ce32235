"""漏接回拨 (issue 18 item 2): a call that ended without reaching an agent is called back within a deadline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from routing.models import Citizen, phone_digest
from services.telephony import callbacks
from services.telephony.models import CallRecord

pytestmark = pytest.mark.django_db
MISSED = "/api/v1/calls/missed/"


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _abandoned_in_the_queue(twilio, tel) -> str:
    """A caller asks for a person (menu 0), waits 45 s in the queue, hangs up."""
    sid = tel.new_sid("CA")
    assert twilio.post("/twilio/voice/", tel.call_params(sid, CallStatus="ringing")).status_code == 200
    assert twilio.post("/twilio/voice/menu/", tel.call_params(sid, Digits="0")).status_code == 200
    assert twilio.post("/twilio/voice/queue/", tel.call_params(sid, QueueResult="hangup", QueueTime="45")).status_code == 200
    assert twilio.post("/twilio/voice/status/", tel.call_params(sid, CallStatus="completed", CallDuration="60")).status_code == 200
    return sid


def test_a_caller_who_hung_up_in_the_queue_is_due_a_call_back(twilio, tel, cast, settings):
    # given: a deadline of two hours
    settings.MISSED_CALL_CALLBACK_MINUTES = 120
    before = timezone.now()

    # when
    sid = _abandoned_in_the_queue(twilio, tel)

    # then: the call is due a call back two hours after it ended, and the agents see it with the number to call
    call = CallRecord.objects.get(call_sid=sid)
    assert before + dt.timedelta(minutes=119) < call.callback_due_at < timezone.now() + dt.timedelta(minutes=121)
    listed = _api(cast["agent"]).get(MISSED)
    assert listed.status_code == 200, listed.content
    [row] = listed.json()["results"]
    assert (row["call_sid"], row["phone"], row["queue_time"], row["overdue"]) == (sid, tel.CITIZEN_PHONE, 45, False)
    page = Client()
    page.force_login(cast["agent"])
    html = page.get("/console/").content.decode()
    assert 'id="missed-calls"' in html and f'data-call="{sid}"' in html and f'href="tel:{tel.CITIZEN_PHONE}"' in html
    # and: department staff have no business with the hotline's missed calls
    assert _api(cast["dept"]).get(MISSED).status_code == 403


def test_a_call_that_never_got_through_is_missed_whatever_order_the_callbacks_come_in(twilio, tel, cast):
    busy, late_queue = tel.new_sid("CA"), tel.new_sid("CA")
    twilio.post("/twilio/voice/status/", tel.call_params(busy, CallStatus="no-answer"))
    # the final status first, the queue's answer after it
    twilio.post("/twilio/voice/menu/", tel.call_params(late_queue, Digits="0"))
    twilio.post("/twilio/voice/status/", tel.call_params(late_queue, CallStatus="completed"))
    twilio.post("/twilio/voice/queue/", tel.call_params(late_queue, QueueResult="hangup", QueueTime="20"))
    assert set(callbacks.due().values_list("call_sid", flat=True)) == {busy, late_queue}
    # a repeated status callback does not move the deadline
    due = CallRecord.objects.get(call_sid=busy).callback_due_at
    twilio.post("/twilio/voice/status/", tel.call_params(busy, CallStatus="no-answer"))
    assert CallRecord.objects.get(call_sid=busy).callback_due_at == due


def test_answered_self_service_anonymous_and_demo_calls_are_not_missed(twilio, tel, cast):
    answered, self_service, anonymous, demo = (tel.new_sid("CA") for _ in range(4))
    twilio.post("/twilio/voice/menu/", tel.call_params(answered, Digits="0"))
    CallRecord.objects.filter(call_sid=answered).update(answered=True, answered_at=timezone.now())
    twilio.post("/twilio/voice/status/", tel.call_params(answered, CallStatus="completed"))
    twilio.post("/twilio/voice/menu/", tel.call_params(self_service, Digits="3"))  # tracked a ticket by itself
    twilio.post("/twilio/voice/status/", tel.call_params(self_service, CallStatus="completed"))
    twilio.post("/twilio/voice/status/", tel.call_params(anonymous, CallStatus="no-answer", From="anonymous", Caller="anonymous"))
    Citizen.objects.create(phone="13900000007", phone_digest=phone_digest("13900000007"), name="演示市民", demo=True)
    twilio.post("/twilio/voice/status/", tel.call_params(demo, CallStatus="busy", From="+8613900000007", Caller="+8613900000007"))
    assert not callbacks.due().exists()


def test_a_voice_message_left_before_hanging_up_closes_the_call_back(twilio, tel, cast):
    sid = tel.new_sid("CA")
    twilio.post("/twilio/voice/status/", tel.call_params(sid, CallStatus="no-answer"))
    assert callbacks.due().filter(call_sid=sid).exists()
    params = tel.call_params(sid, RecordingSid=tel.new_sid("RE"), RecordingUrl="https://api.twilio.com/rec/RE1", RecordingDuration="12", RecordingStatus="completed")
    assert twilio.post("/twilio/voice/recording-status/", params).status_code == 200
    call = CallRecord.objects.get(call_sid=sid)
    assert call.ticket_id and call.callback_result == "not_needed" and call.ticket.number in call.callback_note
    assert not callbacks.due().exists()


def test_an_agent_records_the_call_back_once(twilio, tel, cast):
    sid = _abandoned_in_the_queue(twilio, tel)
    api = _api(cast["agent"])

    # bad input, the wrong role, an unknown call: refused, nothing recorded
    assert api.post(f"{MISSED}{sid}/", {"result": "maybe"}, format="json").status_code == 400
    assert api.post(f"{MISSED}{sid}/", {"result": "reached", "note": "x" * 501}, format="json").status_code == 400
    assert _api(cast["dept"]).post(f"{MISSED}{sid}/", {"result": "reached"}, format="json").status_code == 403
    assert api.post(f"{MISSED}CA{'0' * 32}/", {"result": "reached"}, format="json").status_code == 404
    assert CallRecord.objects.get(call_sid=sid).callback_done_at is None

    # when
    done = api.post(f"{MISSED}{sid}/", {"result": "reached", "note": "市民已另行登记"}, format="json")

    # then: recorded with who and when, gone from the queue; a second record is a conflict
    assert done.status_code == 200, done.content
    assert done.json()["callback_result"] == "reached" and done.json()["callback_note"] == "市民已另行登记"
    call = CallRecord.objects.get(call_sid=sid)
    assert call.callback_by == cast["agent"] and call.callback_done_at is not None
    assert api.get(MISSED).json()["results"] == []
    again = api.post(f"{MISSED}{sid}/", {"result": "unreached"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_called_back"


def test_the_console_form_records_the_call_back(twilio, tel, cast):
    sid = _abandoned_in_the_queue(twilio, tel)
    page = Client()
    page.force_login(cast["agent"])
    response = page.post(f"/twilio/missed/{sid}/", {"result": "unreached", "note": "无人接听"})
    assert response.status_code == 302 and response["Location"].endswith("/console/#missed-calls")
    assert CallRecord.objects.get(call_sid=sid).callback_result == "unreached"
    assert "已记录回拨结果" in page.get("/console/").content.decode()
    repeated = page.post(f"/twilio/missed/{sid}/", {"result": "reached"}, follow=True)
    assert "这个来电已经回拨过了" in repeated.content.decode()


def test_the_missed_calls_of_a_period_export_with_their_result_and_masked_numbers(twilio, tel, cast):
    from routing.models import ExportRecord

    done, waiting = _abandoned_in_the_queue(twilio, tel), _abandoned_in_the_queue(twilio, tel)
    api = _api(cast["agent"])
    assert api.post(f"{MISSED}{done}/", {"result": "reached", "note": "市民已另行登记"}, format="json").status_code == 200

    response = api.get(f"{MISSED}export/?format=csv")

    assert response.status_code == 200, response.content
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("来电时间,来电号码") and len(lines) == 3  # both calls, called back or not
    record = CallRecord.objects.get(call_sid=done)
    assert record.from_number not in "\n".join(lines)  # masked
    assert any("已回拨接通" in line and "市民已另行登记" in line for line in lines)
    assert ExportRecord.objects.get(kind="missed_calls").user == cast["agent"]
    assert _api(cast["dept"]).get(f"{MISSED}export/?format=csv").status_code == 403
    assert api.get(f"{MISSED}export/?format=csv&from=2026-02-30").status_code == 400
    assert waiting
