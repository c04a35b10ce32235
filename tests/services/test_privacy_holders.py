"""Retention and export reach the channels' own copies of a citizen's contact data."""

from __future__ import annotations

import pytest

from routing import privacy
from routing.intake import IntakeRequest, register_ticket
from services.public.models import ChatMessage, ChatSession
from services.telephony.models import CallRecord, SmsMessage


@pytest.mark.django_db
def test_anonymising_a_citizen_blanks_calls_sms_and_chats():
    # given a citizen who called, texted and chatted
    ticket = register_ticket(IntakeRequest(channel="chat", description="噪音扰民", citizen_name="周女士", citizen_phone="13612345678")).ticket
    citizen = ticket.citizen
    CallRecord.objects.create(call_sid="CA-priv", from_number="+8613612345678", citizen=citizen, transcription_text="我是周女士，电话13612345678")
    SmsMessage.objects.create(direction="in", message_sid="SM-priv", from_number="+8613612345678", body="我的电话13612345678", citizen=citizen)
    session = ChatSession.objects.create(citizen_name="周女士", citizen_phone="13612345678", ticket=ticket)
    ChatMessage.objects.create(session=session, sender=ChatMessage.Sender.CITIZEN, text="我叫周女士")

    # when the export is asked for, then it holds every copy
    export = privacy.export_citizen("13612345678")
    assert export["telephony.calls"][0]["from_number"] == "+8613612345678"
    assert export["telephony.sms"][0]["body"] == "我的电话13612345678"
    assert export["public.chats"][0]["messages"][0]["text"] == "我叫周女士"

    # when the citizen is anonymised, then no copy keeps their name or number
    changed = privacy.anonymize_citizen(citizen)
    assert changed["telephony.calls"] == 1 and changed["telephony.sms"] == 1 and changed["public.chats"] == 1
    call, sms, session = CallRecord.objects.get(), SmsMessage.objects.get(), ChatSession.objects.get()
    assert (call.from_number, call.transcription_text) == ("", "")
    assert (sms.from_number, sms.body) == ("", "")
    assert (session.citizen_name, session.citizen_phone) == ("", "")
    assert ChatMessage.objects.get().text == ""
