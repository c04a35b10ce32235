"""Playing a voice message back (收听录音): relayed from the local Twilio, byte for byte, for those who may hear it, each play logged."""

from __future__ import annotations

import base64
import socket
from types import SimpleNamespace

import pytest
from django.test import Client

from routing import actions
from routing.errors import NotAllowed
from routing.models import Department, Ticket, TicketEvent, User
from routing.roles import Role
from services.telephony.models import CallRecord

# MP3-ish: an ID3 header, every byte value (NULs included), and sequences that are not UTF-8.
AUDIO = b"ID3\x03\x00\x00\x00\x00\x00\x0f" + bytes(range(256)) * 64 + b"\xff\xfb\x90\x64\x00\x00\xc3\x28\xa0\xa1\xe2\x28\xa1\x00\x00"
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}"


@pytest.fixture
def people(cast):
    """The telephony cast plus a supervisor, a revealer in the ticket's department and staff of another department."""
    other = Department.objects.create(code="zhujian", name="市住房和城乡建设局")
    make = User.objects.create_user
    return {
        **cast,
        "supervisor": make(username="boss", password="demo-12345-pass", role=Role.SUPERVISOR),
        "revealer": make(username="chengguan-lead", password="demo-12345-pass", role=Role.DEPARTMENT, department=cast["department"], can_reveal_contact=True),
        "other": make(username="zhujian", password="demo-12345-pass", role=Role.DEPARTMENT, department=other),
        "norole": make(username="nobody", password="demo-12345-pass"),
    }


@pytest.fixture
def leave_voicemail(twilio, tel, people, fake_twilio):
    """A caller leaves a message through the real webhooks; the ticket is dispatched to the department; Twilio holds the audio."""

    def leave(audio: bytes | int = AUDIO, *, confidential: bool = False):
        call_sid, recording_sid = tel.new_sid("CA"), tel.new_sid("RE")
        url = RECORDING_URL.format(account=tel.ACCOUNT_SID, sid=recording_sid)
        twilio.post("/twilio/voice/", tel.call_params(call_sid, CallStatus="ringing"))
        twilio.post("/twilio/voice/menu/", tel.call_params(call_sid, Digits="2"))
        answer = twilio.post("/twilio/voice/recording/", tel.call_params(call_sid, RecordingSid=recording_sid, RecordingUrl=url, RecordingDuration="23"))
        assert answer.status_code == 200, answer.content
        ticket = CallRecord.objects.get(call_sid=call_sid).ticket
        ticket = actions.dispatch_ticket(ticket, department=people["department"], by=people["dispatcher"])
        if confidential:
            Ticket.objects.filter(pk=ticket.pk).update(confidential=True)
            ticket.refresh_from_db()
        fake_twilio.recordings[recording_sid] = audio
        return SimpleNamespace(ticket=ticket, sid=recording_sid, path=f"/twilio/recordings/{ticket.number}/{recording_sid}.mp3")

    return leave


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def plays(ticket: Ticket):
    return list(TicketEvent.objects.filter(ticket=ticket, kind="ticket.recording_played"))


def recording_requests(fake) -> list:
    return [r for r in fake.requests if "/Recordings/" in r["path"]]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert "twilio.com" not in response.content.decode()


# --- the audio itself ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_agent_hears_the_recording_byte_for_byte_with_no_trace_of_twilio(leave_voicemail, people, fake_twilio, tel):
    # given
    vm = leave_voicemail()

    # when
    response = signed_in(people["agent"]).get(vm.path)

    # then the bytes are Twilio's, untouched
    assert response.status_code == 200
    assert response.content == AUDIO
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Length"] == str(len(AUDIO))
    assert response["Cache-Control"] == "private, no-store"
    # nothing of Twilio or its credentials reaches the browser
    headers = " ".join(f"{k}: {v}" for k, v in response.items())
    for secret in ("twilio", tel.ACCOUNT_SID, tel.AUTH_TOKEN, fake_twilio.base_url):
        assert secret not in headers
    # Twilio was asked once, for this recording of this account, with the account's Basic auth
    (asked,) = recording_requests(fake_twilio)
    assert asked["path"] == f"/2010-04-01/Accounts/{tel.ACCOUNT_SID}/Recordings/{vm.sid}.mp3"
    assert asked["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{tel.ACCOUNT_SID}:{tel.AUTH_TOKEN}".encode()).decode()
    # and the play is on the timeline, internal
    (event,) = plays(vm.ticket)
    assert (event.actor, event.actor_role, event.public, event.data) == (people["agent"], Role.AGENT, False, {"recording": vm.sid})


@pytest.mark.django_db
def test_wrong_credentials_at_twilio_are_a_gateway_error(leave_voicemail, people, fake_twilio, settings):
    # given Twilio does not accept our token
    vm = leave_voicemail()
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    # when
    response = signed_in(people["agent"]).get(vm.path)

    # then
    assert_error(response, 502, "recording_unavailable")
    assert plays(vm.ticket) == []


# --- who may hear it ------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,confidential,status",
    [
        ("agent", False, 200), ("dispatcher", False, 200), ("supervisor", False, 200),
        ("dept", False, 200), ("revealer", False, 200), ("other", False, 404), ("norole", False, 403),
        ("agent", True, 200), ("dispatcher", True, 200), ("supervisor", True, 200),
        ("dept", True, 403), ("revealer", True, 200), ("other", True, 404),
    ],
)  # fmt: skip
def test_who_may_hear_a_voicemail(who, confidential, status, leave_voicemail, people, fake_twilio):
    # given
    vm = leave_voicemail(confidential=confidential)

    # when
    response = signed_in(people[who]).get(vm.path)

    # then
    assert response.status_code == status, response.content[:300]
    if status == 200:
        assert response.content == AUDIO
        (event,) = plays(vm.ticket)
        assert event.actor == people[who]
        assert len(recording_requests(fake_twilio)) == 1
    else:
        assert response["Content-Type"].startswith("application/json")
        assert AUDIO not in response.content
        assert plays(vm.ticket) == []
        assert recording_requests(fake_twilio) == []  # refused before Twilio is asked


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_the_login_page(leave_voicemail, fake_twilio):
    vm = leave_voicemail()

    response = signed_in(None).get(vm.path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/") or "login" in response["Location"]
    assert plays(vm.ticket) == [] and recording_requests(fake_twilio) == []


@pytest.mark.django_db
def test_every_play_is_one_event(leave_voicemail, people):
    vm = leave_voicemail()
    client = signed_in(people["dept"])

    for _ in range(3):
        assert client.get(vm.path).status_code == 200

    assert len(plays(vm.ticket)) == 3


@pytest.mark.django_db
def test_the_record_listened_action_refuses_department_staff_on_a_confidential_ticket(leave_voicemail, people):
    vm = leave_voicemail(confidential=True)

    with pytest.raises(NotAllowed):
        actions.record_listened(vm.ticket, recording=vm.sid, by=people["dept"])

    assert plays(vm.ticket) == []


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["another-ticket", "malformed", "no-such-ticket"])
def test_a_recording_of_another_ticket_or_none_at_all_is_not_found(bad, leave_voicemail, people, fake_twilio):
    # given two voice messages
    mine, theirs = leave_voicemail(), leave_voicemail()
    path = {
        "another-ticket": f"/twilio/recordings/{mine.ticket.number}/{theirs.sid}.mp3",
        "malformed": f"/twilio/recordings/{mine.ticket.number}/RE0123..Messages.mp3",
        "no-such-ticket": f"/twilio/recordings/20000101-999999/{mine.sid}.mp3",
    }[bad]

    # when
    response = signed_in(people["agent"]).get(path)

    # then
    assert_error(response, 404, "not_found")
    assert plays(mine.ticket) == [] and plays(theirs.ticket) == []
    assert recording_requests(fake_twilio) == []


# --- when Twilio does not deliver ---------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("answer,status,code", [(404, 404, "recording_gone"), (500, 502, "recording_unavailable"), (503, 502, "recording_unavailable")])
def test_twilio_errors_are_clear_answers(answer, status, code, leave_voicemail, people):
    vm = leave_voicemail(answer)

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, status, code)
    assert plays(vm.ticket) == []


@pytest.mark.django_db
def test_twilio_unreachable_is_a_bad_gateway(leave_voicemail, people, settings):
    # given nothing listens where Twilio should be
    vm = leave_voicemail()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, 502, "recording_unavailable")
    assert plays(vm.ticket) == []


@pytest.mark.django_db
def test_a_slow_twilio_is_a_gateway_timeout(leave_voicemail, people, fake_twilio, settings):
    vm = leave_voicemail()
    fake_twilio.recording_delay = 2.0
    settings.TWILIO_HTTP_TIMEOUT = 0.3

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, 504, "recording_timeout")
    assert plays(vm.ticket) == []


@pytest.mark.django_db
@pytest.mark.parametrize("chunked", [False, True], ids=["announced-length", "chunked"])
def test_an_oversized_recording_is_refused(chunked, leave_voicemail, people, fake_twilio, settings):
    # given a recording one byte over the limit, with or without a Content-Length to go by
    settings.TWILIO_RECORDING_MAX_BYTES = len(AUDIO) - 1
    fake_twilio.recording_chunked = chunked
    vm = leave_voicemail()

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, 502, "recording_too_large")
    assert plays(vm.ticket) == []


@pytest.mark.django_db
def test_a_chunked_recording_within_the_limit_arrives_whole(leave_voicemail, people, fake_twilio, settings):
    settings.TWILIO_RECORDING_MAX_BYTES = len(AUDIO)
    fake_twilio.recording_chunked = True
    vm = leave_voicemail()

    response = signed_in(people["agent"]).get(vm.path)

    assert response.status_code == 200 and response.content == AUDIO


@pytest.mark.django_db
def test_the_default_limit_refuses_a_recording_of_several_megabytes(leave_voicemail, people):
    vm = leave_voicemail(AUDIO * 400)  # ≈ 6.6 MB

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, 502, "recording_too_large")


@pytest.mark.django_db
def test_while_telephony_is_off_nothing_is_fetched(leave_voicemail, people, fake_twilio, settings):
    vm = leave_voicemail()
    settings.TELEPHONY_ENABLED = False

    response = signed_in(people["agent"]).get(vm.path)

    assert_error(response, 503, "telephony_disabled")
    assert recording_requests(fake_twilio) == []


# --- the ticket page ------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,confidential,player",
    [("agent", False, True), ("dept", False, True), ("dept", True, False), ("revealer", True, True), ("supervisor", True, True)],
)
def test_the_ticket_page_offers_a_player_to_those_who_may_hear(who, confidential, player, leave_voicemail, people):
    vm = leave_voicemail(confidential=confidential)

    page = signed_in(people[who]).get(f"/tickets/{vm.ticket.number}/")

    assert page.status_code == 200
    html = page.content.decode()
    tag = f'<audio controls preload="none" src="{vm.path}"'
    assert (tag in html) is player
    assert "<audio" in html if player else "<audio" not in html


@pytest.mark.django_db
def test_a_play_shows_on_the_timeline_of_the_ticket_page(leave_voicemail, people):
    vm = leave_voicemail()
    client = signed_in(people["agent"])
    assert client.get(vm.path).status_code == 200

    html = client.get(f"/tickets/{vm.ticket.number}/").content.decode()

    assert "收听录音" in html
