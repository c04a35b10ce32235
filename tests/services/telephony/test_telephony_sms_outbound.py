"""Texts to citizens through the outbox and the real ``twilio.rest.Client``, against a local Twilio API.

Retried on 500 and 429, never lost, never sent twice — not even when a
request timed out after Twilio had taken it, nor when the worker runs again.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from twilio.http.http_client import TwilioHttpClient

from routing import outbox
from routing.models import OutboxMessage
from services.telephony import http, sms
from services.telephony.models import SmsMessage


def notices(template: str | None = None):
    rows = OutboxMessage.objects.filter(kind="citizen.notify")
    return rows.filter(payload__template=template) if template else rows


def only_notices_due(**extra):
    """Make the citizen notices due now (time passing for the back-off), and everything else not."""
    OutboxMessage.objects.exclude(kind="citizen.notify").update(status=OutboxMessage.Status.DONE)
    notices().filter(status=OutboxMessage.Status.PENDING).update(next_attempt_at=timezone.now(), **extra)


@pytest.mark.django_db
def test_the_registration_notice_is_sent_with_the_real_request_encoding(ticket_for, fake_twilio, tel):
    # given a ticket registered on the web by a citizen with a mobile phone
    ticket = ticket_for("registered")
    only_notices_due()
    # when the worker runs
    stats = outbox.drain()
    # then exactly one create request reached "Twilio", built by the real client
    assert stats.delivered == 1
    (create,) = fake_twilio.creates()
    assert urlsplit(create["path"]).path == f"/2010-04-01/Accounts/{tel.ACCOUNT_SID}/Messages.json"
    assert create["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert create["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{tel.ACCOUNT_SID}:{tel.AUTH_TOKEN}".encode()).decode()
    assert create["headers"]["User-Agent"].startswith("twilio-python/")
    form = parse_qs(create["raw"])
    assert set(form) == {"To", "From", "Body"}
    assert form["To"] == ["+8613800138000"]
    assert form["From"] == [tel.HOTLINE_NUMBER]
    (body,) = form["Body"]
    assert body == f"【12345热线】您的诉求已受理，工单号 {ticket.number}。查询办理进度：https://12345.example.gov.cn/track/?number={ticket.number}"
    # and the message is on record, with Twilio's sid
    sent = SmsMessage.objects.get()
    assert (sent.direction, sent.status, sent.template, sent.ticket) == ("out", "sent", "registered", ticket)
    assert sent.message_sid == fake_twilio.messages[0]["sid"]
    assert sent.outbox_key == notices().get().idempotency_key
    assert notices().get().result == {"sid": sent.message_sid}


@pytest.mark.django_db
def test_500_and_429_are_retried_until_exactly_one_message_is_delivered(ticket_for, fake_twilio):
    # given "Twilio" fails twice: an internal error, then a rate limit
    ticket_for("registered")
    fake_twilio.fail_next = [500, 429]
    only_notices_due()
    # when the worker runs, and runs again as the back-off expires
    first = outbox.drain()
    notice = notices().get()
    assert (first.retried, notice.status, notice.attempts) == (1, "pending", 1)
    assert "500" in notice.last_error and notice.next_attempt_at > timezone.now()
    assert SmsMessage.objects.get().status == "sending"  # the outcome of a 500 is not certain

    only_notices_due()
    second = outbox.drain()
    notice.refresh_from_db()
    assert (second.retried, notice.status, notice.attempts) == (1, "pending", 2)
    assert "429" in notice.last_error
    assert SmsMessage.objects.get().status == "pending"  # a 429 is a refusal: nothing was taken

    only_notices_due()
    third = outbox.drain()
    # then one message exists at "Twilio", and it was asked for in this order
    assert third.delivered == 1
    assert len(fake_twilio.messages) == 1
    assert [(r["method"], urlsplit(r["path"]).path.rsplit("/", 1)[-1]) for r in fake_twilio.requests] == [
        ("POST", "Messages.json"),  # 500
        ("GET", "Messages.json"),  # looked up before sending again: not there
        ("POST", "Messages.json"),  # 429
        ("POST", "Messages.json"),  # 201
    ]
    sent = SmsMessage.objects.get()
    assert (sent.status, sent.attempts, sent.message_sid) == ("sent", 3, fake_twilio.messages[0]["sid"])
    notice.refresh_from_db()
    assert notice.status == OutboxMessage.Status.DONE


@pytest.mark.django_db
def test_a_timeout_after_twilio_took_the_message_does_not_send_it_twice(ticket_for, fake_twilio, settings):
    # given "Twilio" takes the message but answers too late
    ticket_for("registered")
    settings.TWILIO_HTTP_TIMEOUT = 0.5
    fake_twilio.slow_next, fake_twilio.slow_seconds = 1, 1.5
    only_notices_due()
    # when the worker runs: the request times out
    assert outbox.drain().retried == 1
    assert "Timeout" in notices().get().last_error
    assert len(fake_twilio.messages) == 1
    # and runs again
    only_notices_due()
    assert outbox.drain().delivered == 1
    # then the message was found at "Twilio" instead of being sent again
    assert len(fake_twilio.messages) == 1
    assert [r["method"] for r in fake_twilio.requests] == ["POST", "GET"]
    sent = SmsMessage.objects.get()
    assert (sent.status, sent.message_sid) == ("sent", fake_twilio.messages[0]["sid"])
    assert notices().get().result == {"sid": sent.message_sid, "found_at_twilio": True}


@pytest.mark.django_db
def test_a_worker_run_again_after_delivery_sends_nothing(ticket_for, fake_twilio):
    # given a notice was delivered …
    ticket_for("registered")
    only_notices_due()
    outbox.drain()
    assert len(fake_twilio.requests) == 1
    # … but the worker died before recording it, so the row is due again
    only_notices_due()
    notices().update(status=OutboxMessage.Status.PENDING, next_attempt_at=timezone.now())
    # when the worker runs again
    stats = outbox.drain()
    # then nothing more reaches "Twilio"
    assert stats.delivered == 1
    assert len(fake_twilio.requests) == 1 and len(fake_twilio.messages) == 1
    assert notices().get().result == {"sid": fake_twilio.messages[0]["sid"], "already_sent": True}


@pytest.mark.django_db
def test_reply_and_survey_follow_the_approved_reply(ticket_for, fake_twilio, tel):
    # given the department's reply was approved
    ticket = ticket_for("reply_approved")
    only_notices_due()
    outbox.drain()
    # then the citizen got the number, the reply and the survey — one message each
    bodies = {parse_qs(r["raw"])["Body"][0] for r in fake_twilio.creates()}
    assert len(fake_twilio.messages) == 3 and len(bodies) == 3
    assert f"【12345热线】您的工单 {ticket.number} 已有答复：经现场核查，路灯线路老化，已于当日更换修复。 详情：" in "".join(bodies)
    assert f"【12345热线】请对工单 {ticket.number} 的办理结果进行评价：回复1满意，2基本满意，3不满意。" in bodies
    assert SmsMessage.objects.filter(status="sent").count() == 3


@pytest.mark.django_db
def test_a_number_twilio_refuses_is_recorded_and_skipped(ticket_for, fake_twilio):
    ticket_for("registered")
    fake_twilio.fail_next = [400]
    only_notices_due()
    assert outbox.drain().skipped == 1
    assert SmsMessage.objects.get().status == "failed"
    # and it is never tried again
    notices().update(status=OutboxMessage.Status.PENDING, next_attempt_at=timezone.now())
    outbox.drain()
    assert len(fake_twilio.creates()) == 1


@pytest.mark.django_db
def test_nothing_is_sent_while_telephony_is_off(ticket_for, fake_twilio, settings):
    ticket_for("registered")
    settings.TELEPHONY_ENABLED = False
    only_notices_due()
    assert outbox.drain().skipped == 1
    assert fake_twilio.requests == [] and SmsMessage.objects.count() == 0


# --- composing and the HTTP client -------------------------------------------------------------------
@pytest.mark.django_db
def test_a_long_reply_is_cut_with_the_link_to_the_rest(ticket_for, cast):
    ticket = ticket_for("reply_approved")
    ticket.reply_text = "答复内容" * 200
    text = sms.compose(ticket, "reply")
    assert len(text) < 320
    assert "…" in text and text.endswith(f"/track/?number={ticket.number}")


def test_the_redirecting_client_sends_twilio_hosts_to_the_base_url():
    client = http.RedirectingHttpClient("http://127.0.0.1:8999/prefix")
    assert client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=50") == (
        "http://127.0.0.1:8999/prefix/2010-04-01/Accounts/AC1/Messages.json?PageSize=50"
    )
    assert client.rewrite("https://messaging.twilio.com/v1/Services") == "http://127.0.0.1:8999/prefix/v1/Services"
    assert client.rewrite("https://api.dublin.ie1.twilio.com/2010-04-01/x") == "http://127.0.0.1:8999/prefix/2010-04-01/x"
    assert client.rewrite("https://example.com/twilio.com/x") == "https://example.com/twilio.com/x"
    assert client.rewrite("https://eviltwilio.com/x") == "https://eviltwilio.com/x"


def test_production_uses_the_stock_client(settings):
    settings.TWILIO_API_BASE_URL = None
    client = http.http_client()
    assert type(client) is TwilioHttpClient


def test_a_malformed_base_url_is_refused():
    with pytest.raises(ValueError, match="TWILIO_API_BASE_URL"):
        http.RedirectingHttpClient("127.0.0.1:8999")


@pytest.mark.django_db
def test_the_demo_city_never_texts_its_citizens(fake_twilio, settings):
    """With Twilio configured, loading the demo sends nothing (its citizens' numbers could be someone's), and
    neither does a step a user takes on a demo ticket afterwards."""
    from routing import actions, demo
    from routing.models import Ticket, User

    # when: the demo is loaded the way `manage.py load_demo` does, and its outbox delivered
    demo.load()
    outbox.drain(max_rounds=1000)

    # then: no request reached Twilio, no SMS row was written, and nothing waits for a retry
    assert fake_twilio.creates() == []
    assert not SmsMessage.objects.filter(direction=SmsMessage.Direction.OUTBOUND).exists()
    assert notices().exists() and not notices().filter(status=OutboxMessage.Status.PENDING).exists()

    # and: a dispatcher approving a demo ticket's reply (reply + survey texts) still reaches no phone
    replied = Ticket.objects.filter(channel_ref__startswith="demo:", state="replied").first()
    actions.approve_reply(replied, by=User.objects.get(username="dispatcher"))
    outbox.drain()
    assert fake_twilio.creates() == []
    assert notices().filter(payload__ticket_id=replied.pk, payload__template="survey").exists()
