"""A call from greeting to ticket: menu, queue, voice message, transcription, status — idempotent under Twilio's retries."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from routing.models import OutboxMessage, Ticket, TicketEvent
from routing.states import Channel, TicketType
from services.telephony import conf
from services.telephony.models import CallRecord

RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE1"


def post_twice(twilio, path, params):
    """Twilio retries: every webhook of these tests arrives twice, and both answers must agree."""
    first = twilio.post(path, params)
    second = twilio.post(path, params)
    assert first.status_code == second.status_code == 200, first.content
    assert first.content == second.content
    return first


@pytest.mark.django_db
def test_after_hours_call_becomes_one_ticket_and_one_record_even_when_every_webhook_comes_twice(twilio, tel, settings):
    # given the agents are off duty
    settings.HOTLINE_SERVICE_HOURS = ""
    call_sid, recording_sid = tel.new_sid("CA"), tel.new_sid("RE")
    call = lambda **extra: tel.call_params(call_sid, **extra)  # noqa: E731

    # when the caller calls, presses 2 and leaves a message
    root = tel.parse(post_twice(twilio, "/twilio/voice/", call(CallStatus="ringing")))
    assert root.find("Gather").get("action") == "/twilio/voice/menu/"

    root = tel.parse(post_twice(twilio, "/twilio/voice/menu/", call(Digits="2")))
    assert "非人工服务时间" in root.find("Say").text
    record = root.find("Record")
    assert record.get("action") == "/twilio/voice/recording/"
    assert record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == "/twilio/voice/transcription/"
    assert record.get("recordingStatusCallback") == "/twilio/voice/recording-status/"
    assert record.get("finishOnKey") == "#"
    assert int(record.get("maxLength")) <= 120  # Twilio transcribes at most two minutes

    recorded = call(RecordingSid=recording_sid, RecordingUrl=RECORDING_URL, RecordingDuration="23", Digits="#")
    root = tel.parse(post_twice(twilio, "/twilio/voice/recording/", recorded))
    assert "已为您登记工单" in root.find("Say").text
    assert root.find("Hangup") is not None

    transcribed = call(
        TranscriptionSid=tel.new_sid("TR"),
        TranscriptionStatus="completed",
        TranscriptionText="我家楼下的路灯坏了一个星期了",
        TranscriptionUrl=RECORDING_URL + "/Transcriptions/TR1",
        RecordingSid=recording_sid,
        RecordingUrl=RECORDING_URL,
    )
    post_twice(twilio, "/twilio/voice/transcription/", transcribed)
    post_twice(
        twilio,
        "/twilio/voice/recording-status/",
        call(RecordingSid=recording_sid, RecordingUrl=RECORDING_URL, RecordingStatus="completed", RecordingDuration="23"),
    )
    post_twice(twilio, "/twilio/voice/status/", call(CallStatus="completed", CallDuration="61", SequenceNumber="3"))

    # then one ticket …
    ticket = Ticket.objects.get()
    assert ticket.channel == Channel.PHONE
    assert ticket.channel_ref == f"call:{call_sid}"
    assert ticket.type == TicketType.HELP
    assert ticket.state == "registered"
    assert ticket.citizen.phone == "13800138000"
    # … whose description is not invented: the words are in the transcription note
    assert "路灯" not in ticket.description
    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds.count("ticket.registered") == 1
    assert kinds.count("ticket.voicemail") == 1
    assert kinds.count("ticket.transcription") == 1
    note = ticket.events.get(kind="ticket.transcription")
    assert "我家楼下的路灯坏了一个星期了" in note.data["text"]
    assert note.public is False
    # … one call record linking it all
    record = CallRecord.objects.get()
    assert record.call_sid == call_sid
    assert record.ticket == ticket and record.citizen == ticket.citizen
    assert record.menu_choice == "2"
    assert (record.recording_sid, record.recording_duration, record.recording_status) == (recording_sid, 23, "completed")
    assert record.transcription_text == "我家楼下的路灯坏了一个星期了"
    assert (record.status, record.duration, record.answered) == ("completed", 61, False)
    assert record.from_number == tel.CITIZEN_PHONE and record.from_digest
    # … and one SMS with the ticket number queued for the caller
    notices = OutboxMessage.objects.filter(kind="citizen.notify")
    assert [m.payload["template"] for m in notices] == ["registered"]


@pytest.mark.django_db
def test_the_transcription_may_arrive_before_the_recording(twilio, tel, settings):
    settings.HOTLINE_SERVICE_HOURS = ""
    call_sid, recording_sid = tel.new_sid("CA"), tel.new_sid("RE")
    twilio.post("/twilio/voice/", tel.call_params(call_sid))
    twilio.post(
        "/twilio/voice/transcription/",
        tel.call_params(call_sid, TranscriptionSid=tel.new_sid("TR"), TranscriptionStatus="completed", TranscriptionText="噪音扰民", RecordingSid=recording_sid),
    )
    assert Ticket.objects.count() == 0
    twilio.post("/twilio/voice/recording/", tel.call_params(call_sid, RecordingSid=recording_sid, RecordingUrl=RECORDING_URL, RecordingDuration="9"))
    ticket = Ticket.objects.get()
    assert list(ticket.events.filter(kind="ticket.transcription").values_list("data", flat=True)) == [{"text": "留言转写：噪音扰民"}]


@pytest.mark.django_db
def test_a_caller_who_hangs_up_while_recording_still_leaves_a_ticket(twilio, tel):
    # Only the recording status callback arrives (the <Record> action's answer is not executed after a hang-up).
    call_sid = tel.new_sid("CA")
    params = tel.call_params(call_sid, RecordingSid=tel.new_sid("RE"), RecordingUrl=RECORDING_URL, RecordingStatus="completed", RecordingDuration="14")
    twilio.post("/twilio/voice/recording-status/", params)
    twilio.post("/twilio/voice/recording-status/", params)
    assert Ticket.objects.get().channel_ref == f"call:{call_sid}"
    assert CallRecord.objects.get().recording_status == "completed"


@pytest.mark.django_db
def test_an_empty_recording_makes_no_ticket(twilio, tel):
    call_sid = tel.new_sid("CA")
    root = tel.parse(
        twilio.post("/twilio/voice/recording/", tel.call_params(call_sid, RecordingSid=tel.new_sid("RE"), RecordingUrl=RECORDING_URL, RecordingDuration="0"))
    )
    assert "没有收到您的留言" in root.find("Say").text
    assert Ticket.objects.count() == 0
    assert CallRecord.objects.count() == 1


@pytest.mark.django_db
def test_menu_1_makes_an_inquiry_ticket_from_the_message(twilio, tel, settings):
    settings.HOTLINE_SERVICE_HOURS = ""
    call_sid = tel.new_sid("CA")
    twilio.post("/twilio/voice/menu/", tel.call_params(call_sid, Digits="1"))
    twilio.post("/twilio/voice/recording/", tel.call_params(call_sid, RecordingSid=tel.new_sid("RE"), RecordingUrl=RECORDING_URL, RecordingDuration="5"))
    assert Ticket.objects.get().type == TicketType.INQUIRY


@pytest.mark.django_db
def test_a_withheld_number_leaves_an_anonymous_ticket(twilio, tel):
    call_sid = tel.new_sid("CA")
    params = tel.call_params(call_sid, From="anonymous", Caller="anonymous", RecordingSid=tel.new_sid("RE"), RecordingUrl=RECORDING_URL, RecordingDuration="5")
    twilio.post("/twilio/voice/recording/", params)
    ticket = Ticket.objects.get()
    assert ticket.citizen is None and ticket.anonymous
    assert OutboxMessage.objects.filter(kind="citizen.notify").count() == 0


# --- within service hours: the agents' queue ----------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("digits", ["0", "1", "2"])
def test_within_service_hours_the_caller_waits_for_an_agent(digits, twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/menu/", tel.call_params(tel.new_sid("CA"), Digits=digits)))
    enqueue = root.find("Enqueue")
    assert enqueue.text == "hotline"
    assert enqueue.get("waitUrl") == "/twilio/voice/wait/"
    assert enqueue.get("waitUrlMethod") == "POST"
    assert enqueue.get("action") == "/twilio/voice/queue/"
    assert root.find("Record") is None


@pytest.mark.django_db
def test_no_key_pressed_goes_to_an_agent(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/menu/", tel.call_params(tel.new_sid("CA"))))
    assert root.find("Enqueue") is not None


@pytest.mark.django_db
def test_a_wrong_key_repeats_the_menu(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/menu/", tel.call_params(tel.new_sid("CA"), Digits="7")))
    assert root.find("Say").text == "输入有误。"
    assert root.find("Gather").get("action") == "/twilio/voice/menu/"


@pytest.mark.django_db
def test_waiting_offers_a_message_and_overflows_to_voicemail(twilio, tel, settings):
    settings.HOTLINE_QUEUE_MAX_WAIT = 60
    call_sid = tel.new_sid("CA")
    # while waiting: the position, and "press 1 to leave a message"
    root = tel.parse(twilio.post("/twilio/voice/wait/", tel.call_params(call_sid, QueueTime="10", QueuePosition="3", QueueSid=tel.new_sid("QU"))))
    text = "".join(s.text for s in root.iter("Say"))
    assert "前面还有2位" in text and "如需留言，请按1" in text
    assert root.find("Gather").get("action") == "/twilio/voice/wait/"
    assert root.find("Leave") is None
    # pressing 1 leaves the queue
    root = tel.parse(twilio.post("/twilio/voice/wait/", tel.call_params(call_sid, Digits="1")))
    assert root.find("Leave") is not None
    # waiting longer than the limit leaves it too
    root = tel.parse(twilio.post("/twilio/voice/wait/", tel.call_params(call_sid, QueueTime="61", QueuePosition="1")))
    assert root.find("Leave") is not None
    # having left, the caller records a message
    root = tel.parse(twilio.post("/twilio/voice/queue/", tel.call_params(call_sid, QueueResult="leave", QueueTime="61")))
    assert root.find("Record").get("action") == "/twilio/voice/recording/"
    assert CallRecord.objects.get().queue_time == 61


@pytest.mark.django_db
def test_after_talking_to_an_agent_the_call_ends_politely(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/queue/", tel.call_params(tel.new_sid("CA"), QueueResult="bridged", QueueTime="12")))
    assert root.find("Hangup") is not None and root.find("Record") is None


@pytest.mark.django_db
def test_a_late_status_callback_does_not_undo_the_end_of_a_call(twilio, tel):
    call_sid = tel.new_sid("CA")
    twilio.post("/twilio/voice/status/", tel.call_params(call_sid, CallStatus="completed", CallDuration="40"))
    twilio.post("/twilio/voice/status/", tel.call_params(call_sid, CallStatus="ringing"))
    record = CallRecord.objects.get()
    assert (record.status, record.duration) == ("completed", 40)


# --- menu 3: a ticket's progress ---------------------------------------------------------------
@pytest.mark.django_db
def test_menu_3_reads_out_the_progress_of_the_callers_own_ticket(twilio, tel, ticket_for):
    # given the caller's ticket is being handled
    ticket = ticket_for("accepted")
    call_sid = tel.new_sid("CA")
    # when they press 3
    root = tel.parse(twilio.post("/twilio/voice/menu/", tel.call_params(call_sid, Digits="3")))
    gather = root.find("Gather")
    assert (gather.get("numDigits"), gather.get("finishOnKey"), gather.get("action")) == ("14", "#", "/twilio/voice/track/")
    # and key in its 14 digits
    digits = ticket.number.replace("-", "")
    root = tel.parse(twilio.post("/twilio/voice/track/", tel.call_params(call_sid, Digits=digits)))
    # then they hear its state, and the menu again
    assert root.find("Say").text == "您查询的工单，当前状态为：承办单位正在办理。"
    assert root.find("Gather").get("action") == "/twilio/voice/menu/"
    assert CallRecord.objects.get().menu_choice == "3"
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_menu_3_tells_nothing_about_someone_elses_ticket(twilio, tel, ticket_for):
    theirs = ticket_for("accepted", phone="+8613900139000")
    root = tel.parse(twilio.post("/twilio/voice/track/", tel.call_params(tel.new_sid("CA"), Digits=theirs.number.replace("-", ""))))
    unknown = tel.parse(twilio.post("/twilio/voice/track/", tel.call_params(tel.new_sid("CA"), Digits="20000101000001")))
    assert root.find("Say").text == unknown.find("Say").text
    assert "没有查询到" in root.find("Say").text


@pytest.mark.django_db
def test_menu_3_asks_again_for_a_wrong_length(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/track/", tel.call_params(tel.new_sid("CA"), Digits="2026112")))
    assert "14位数字" in root.find("Gather/Say").text
    assert root.find("Redirect").text == "/twilio/voice/menu/?repeat=1"


@pytest.mark.django_db
def test_silence_after_menu_3_returns_to_the_menu(twilio, tel):
    root = tel.parse(twilio.post("/twilio/voice/menu/?repeat=1", tel.call_params(tel.new_sid("CA"))))
    assert root.find("Gather").get("action") == "/twilio/voice/menu/"
    assert root.find("Enqueue") is None


# --- service hours ------------------------------------------------------------------------------
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    "hours,clock,open_",
    [
        ("00:00-24:00", "03:00", True),
        ("", "12:00", False),
        ("00:00-00:00", "12:00", False),
        ("08:30-12:00,13:30-17:30", "08:29", False),
        ("08:30-12:00,13:30-17:30", "08:30", True),
        ("08:30-12:00,13:30-17:30", "12:00", False),
        ("08:30-12:00,13:30-17:30", "17:29", True),
        ("22:00-06:00", "23:15", True),
        ("22:00-06:00", "05:59", True),
        ("22:00-06:00", "06:00", False),
    ],
)
def test_service_hours(hours, clock, open_, settings):
    settings.HOTLINE_SERVICE_HOURS = hours
    hour, minute = map(int, clock.split(":"))
    at = dt.datetime(2026, 11, 22, hour, minute, tzinfo=SHANGHAI)
    assert conf.within_service_hours(at) is open_


@pytest.mark.parametrize("bad", ["8-17", "08:00-25:00", "08:60-09:00", "24:30-01:00", "always"])
def test_malformed_service_hours_stop_the_start(bad, settings):
    settings.HOTLINE_SERVICE_HOURS = bad
    with pytest.raises(ImproperlyConfigured, match="HOTLINE_SERVICE_HOURS"):
        conf.check()


@pytest.mark.django_db
def test_retried_recording_callbacks_write_no_second_event(twilio, tel):
    call_sid, recording_sid = tel.new_sid("CA"), tel.new_sid("RE")
    params = tel.call_params(call_sid, RecordingSid=recording_sid, RecordingUrl=RECORDING_URL, RecordingDuration="30")
    for _ in range(3):
        twilio.post("/twilio/voice/recording/", params)
    assert TicketEvent.objects.filter(kind="ticket.voicemail").count() == 1
    assert TicketEvent.objects.filter(kind="ticket.registered").count() == 1
