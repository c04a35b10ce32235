"""Texts from citizens: a new request, a satisfaction answer, a progress question — each once, whatever Twilio retries."""

from __future__ import annotations

import pytest

from routing import outbox
from routing.models import OutboxMessage, Ticket
from routing.states import Channel, Satisfaction, State
from services.telephony.models import SmsMessage


def answer_of(tel, response) -> str:
    root = tel.parse(response)
    messages = root.findall("Message")
    assert len(messages) == 1
    return messages[0].text


@pytest.mark.django_db
def test_a_text_opens_a_ticket_and_answers_with_its_number(twilio, tel):
    # given
    message_sid = tel.new_sid("SM")
    params = tel.sms_params(message_sid, "  幸福小区3号楼电梯坏了两天，老人上下楼很困难。 ")
    # when Twilio delivers it, and retries
    first = answer_of(tel, twilio.post("/twilio/sms/", params))
    again = answer_of(tel, twilio.post("/twilio/sms/", params))
    # then one ticket, one message, the same answer
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.channel_ref, ticket.state) == (Channel.SMS, f"sms:{message_sid}", State.REGISTERED)
    assert ticket.description == "幸福小区3号楼电梯坏了两天，老人上下楼很困难。"
    assert ticket.citizen.phone == "13800138000"
    assert first == again
    assert ticket.number in first
    assert f"https://12345.example.gov.cn/track/?number={ticket.number}" in first
    stored = SmsMessage.objects.get()
    assert (stored.direction, stored.message_sid, stored.ticket, stored.reply) == ("in", message_sid, ticket, first)


@pytest.mark.django_db
def test_the_registration_notice_is_not_sent_again_to_an_sms_citizen(twilio, tel, fake_twilio):
    # The number was already in the answer to their own message.
    twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), "噪音扰民，每晚十一点后还在施工。"))
    outbox.drain()
    notice = OutboxMessage.objects.get(kind="citizen.notify")
    assert notice.status == OutboxMessage.Status.SKIPPED
    assert fake_twilio.requests == []


@pytest.mark.django_db
def test_media_links_are_kept_on_the_timeline(twilio, tel):
    params = tel.sms_params(
        tel.new_sid("SM"), "路面塌陷，见图。", NumMedia="1", MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", MediaContentType0="image/jpeg"
    )
    twilio.post("/twilio/sms/", params)
    note = Ticket.objects.get().events.get(kind="ticket.sms_media")
    assert "Media/ME1" in note.data["text"] and note.public is False


# --- the satisfaction survey -------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("reply,satisfaction", [("1", Satisfaction.SATISFIED), ("满意", Satisfaction.SATISFIED), ("２", Satisfaction.BASICALLY_SATISFIED), ("基本满意。", Satisfaction.BASICALLY_SATISFIED)])
def test_a_satisfied_answer_records_the_callback_and_closes(reply, satisfaction, twilio, tel, ticket_for):
    # given the reply was approved and the survey sent
    ticket = ticket_for("reply_approved")
    # when the citizen answers
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), reply)))
    # then the callback is recorded by the citizen, and the ticket closes
    ticket.refresh_from_db()
    assert ticket.state == State.CLOSED
    assert ticket.satisfaction == satisfaction
    callback = ticket.events.get(kind="ticket.callback")
    assert callback.actor_role == "citizen" and callback.actor is None
    assert callback.data == {"reached": True, "solved": None, "satisfaction": satisfaction}
    assert ticket.number in text and "感谢" in text
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("reply", ["3", "不满意", "不满意！"])
def test_an_unsatisfied_answer_reopens_the_ticket(reply, twilio, tel, ticket_for):
    ticket = ticket_for("reply_approved")
    message_sid = tel.new_sid("SM")
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(message_sid, reply)))
    # a retry changes nothing more
    assert answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(message_sid, reply))) == text
    ticket.refresh_from_db()
    assert ticket.state == State.ACCEPTED
    assert ticket.unsatisfied_count == 1
    reopened = ticket.events.get(kind="ticket.reopened")
    assert reopened.actor_role == "citizen"
    assert reopened.data["reason"] == "短信回访不满意"
    assert ticket.events.filter(kind="ticket.callback", data__satisfaction=Satisfaction.UNSATISFIED).count() == 1
    assert "重新交承办单位办理" in text


@pytest.mark.django_db
def test_a_rating_without_a_ticket_awaiting_it_creates_nothing(twilio, tel, ticket_for):
    ticket = ticket_for("accepted")
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), "1")))
    assert "没有待评价的工单" in text
    ticket.refresh_from_db()
    assert ticket.state == State.ACCEPTED
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_rating_from_another_phone_rates_nothing(twilio, tel, ticket_for):
    ticket = ticket_for("reply_approved")
    twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), "3", from_number="+8613900139000"))
    ticket.refresh_from_db()
    assert ticket.state == State.REPLY_APPROVED


# --- progress by ticket number -----------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("dash", [True, False])
def test_a_ticket_number_gets_its_progress_back(dash, twilio, tel, ticket_for):
    ticket = ticket_for("accepted")
    number = ticket.number if dash else ticket.number.replace("-", "")
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), f"查询 {number} 进度")))
    assert text.startswith(f"工单 {ticket.number}：承办单位正在办理。")
    assert f"/track/?number={ticket.number}" in text
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_someone_elses_ticket_number_is_not_found(twilio, tel, ticket_for):
    ticket = ticket_for("accepted", phone="+8613900139000")
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), ticket.number)))
    unknown = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), "20000101-000009")))
    assert "未查询到" in text
    assert text.replace(ticket.number, "N") == unknown.replace("20000101-000009", "N")
    assert "承办单位" not in text
    assert Ticket.objects.count() == 1


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("body,expected", [("", "没有文字内容"), ("   \n ", "没有文字内容"), ("很" * 1601, "过长")])
def test_empty_or_oversized_texts_get_a_polite_answer_and_create_nothing(body, expected, twilio, tel):
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), body)))
    assert expected in text
    assert Ticket.objects.count() == 0
    assert SmsMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_sender_that_is_not_a_phone_number_is_answered_politely(twilio, tel):
    text = answer_of(tel, twilio.post("/twilio/sms/", tel.sms_params(tel.new_sid("SM"), "路灯坏了", from_number="+1234")))
    assert "暂时无法受理" in text
    assert Ticket.objects.count() == 0
