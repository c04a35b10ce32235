"""GB/T 33358 call-centre KPIs (issue 18 item 3): 15秒接通率, 短信3分钟回复率, 在线咨询3分钟响应率, from the records."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from routing import kpis
from services.public.models import ChatMessage, ChatSession
from services.telephony.models import CallRecord, SmsMessage

pytestmark = pytest.mark.django_db


def test_answered_within_15_seconds_counts_the_calls_that_asked_for_a_person():
    make = CallRecord.objects.create
    make(call_sid="CA1", direction="inbound", menu_choice="0", answered=True, queue_time=8)  # quick
    make(call_sid="CA2", direction="inbound", menu_choice="0", answered=True, queue_time=15)  # quick, at the limit
    make(call_sid="CA3", direction="inbound", menu_choice="0", answered=True, queue_time=40)  # slow
    make(call_sid="CA4", direction="inbound", menu_choice="0", answered=False, queue_time=70)  # gave up
    make(call_sid="CA5", direction="inbound", menu_choice="3", answered=False)  # self-service: asked for nobody
    make(call_sid="CA6", direction="outbound-api", answered=True, queue_time=1)  # our own call
    totals = kpis.compute()["totals"]
    assert totals["answered_15s"] == {"value": 0.5, "numerator": 2, "denominator": 4}
    assert totals["answer_rate"]["denominator"] == 5


def test_sms_answered_counts_inbound_messages_with_an_answer():
    make = SmsMessage.objects.create
    make(direction="in", message_sid="SM1", status="received", reply="已收到，工单号 20261207-000001")
    make(direction="in", message_sid="SM2", status="received", reply="")
    make(direction="out", message_sid="SM3", status="sent", body="回访")
    assert kpis.compute()["totals"]["sms_answered_3min"] == {"value": 0.5, "numerator": 1, "denominator": 2}


def test_chats_answered_within_3_minutes_by_an_agent():
    now = timezone.now() - dt.timedelta(hours=1)

    def chat(agent_after: int | None, system_after: int | None = None):
        session = ChatSession.objects.create()
        ChatMessage.objects.create(session=session, sender="citizen", text="路灯不亮", created_at=now)
        if system_after is not None:
            ChatMessage.objects.create(session=session, sender="system", text="已登记", created_at=now + dt.timedelta(seconds=system_after))
        if agent_after is not None:
            ChatMessage.objects.create(session=session, sender="agent", text="您好", created_at=now + dt.timedelta(seconds=agent_after))

    chat(agent_after=60)  # in time
    chat(agent_after=180)  # at the limit
    chat(agent_after=600, system_after=1)  # the system's line is not an answer; the agent came late
    chat(agent_after=None)  # nobody answered
    ChatSession.objects.create()  # opened, nothing written: not counted
    assert kpis.compute()["totals"]["chat_answered_3min"] == {"value": 0.5, "numerator": 2, "denominator": 4}


def test_the_supervisor_page_and_the_wallboard_show_them(cast):
    from routing.models import User
    from routing.roles import Role

    CallRecord.objects.create(call_sid="CA9", direction="inbound", menu_choice="0", answered=True, queue_time=3)
    supervisor = User.objects.create_user(username="duban", password="x", role=Role.SUPERVISOR)
    client = Client()
    client.force_login(supervisor)
    for page in ("/supervisor/", "/supervisor/wall/"):
        html = client.get(page).content.decode()
        assert "15秒接通率" in html and "在线咨询3分钟响应率" in html, page
    assert "短信3分钟回复率" in client.get("/supervisor/").content.decode()
