"""弹屏: the agent's Twilio Client takes the next caller, and the agent's console shows who it is."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from routing import groups, outbox
from routing.models import OutboxMessage
from services.telephony import screen_pop
from services.telephony.models import CallRecord

DEAD_REDIS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}


def agent_leg(tel, username: str) -> dict:
    """What Twilio posts to the TwiML App's voice URL when an agent's browser client dials in."""
    return {
        "AccountSid": tel.ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "ApplicationSid": tel.new_sid("AP"),
        "CallSid": tel.new_sid("CA"),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": f"client:{username}",
        "Caller": f"client:{username}",
        "To": "",
    }


def connect_url_for(twilio, tel, username: str) -> tuple[str, str]:
    root = tel.parse(twilio.post("/twilio/voice/agent/", leg := agent_leg(tel, username)))
    queue = root.find("Dial/Queue")
    assert queue is not None, "an authorised agent is connected to the queue"
    return queue.get("url"), leg["CallSid"]


def bridged(tel, call_sid: str, dequeuing_sid: str) -> dict:
    """What Twilio posts to the <Queue url> when the queued caller is bridged (the caller's call fields)."""
    return tel.call_params(call_sid, QueueSid=tel.new_sid("QU"), QueueTime="17", DequeingCallSid=dequeuing_sid, CallStatus="in-progress")


def session_cookie(user) -> bytes:
    """The session cookie of ``user`` signed in through the real login machinery."""
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


def console(cookie: bytes) -> WebsocketCommunicator:
    """The agent console's WebSocket on the project's ASGI application, with a session cookie."""
    from hotline.asgi import application

    return WebsocketCommunicator(application, "/ws/notifications/", headers=[(b"cookie", cookie), (b"origin", b"http://testserver"), (b"host", b"testserver")])


# --- the agent's leg -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_agent_client_is_connected_to_the_queue_with_itself_named_in_the_connect_url(twilio, tel, cast):
    root = tel.parse(twilio.post("/twilio/voice/agent/", agent_leg(tel, "xiaowang")))
    queue = root.find("Dial/Queue")
    assert queue.text == "hotline"
    assert queue.get("url") == f"/twilio/voice/connect/?agent={cast['agent'].pk}"
    assert queue.get("method") == "POST"


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["nobody", "chengguan", ""])
def test_unknown_or_department_identities_are_not_connected(username, twilio, tel, cast):
    root = tel.parse(twilio.post("/twilio/voice/agent/", agent_leg(tel, username)))
    assert root.find("Dial") is None
    assert root.find("Hangup") is not None


@pytest.mark.django_db
def test_an_inactive_agent_is_not_connected(twilio, tel, cast):
    cast["agent"].is_active = False
    cast["agent"].save()
    assert tel.parse(twilio.post("/twilio/voice/agent/", agent_leg(tel, "xiaowang"))).find("Dial") is None


@pytest.mark.django_db
def test_connect_without_a_known_agent_is_a_400(twilio, tel, cast):
    response = twilio.post("/twilio/voice/connect/?agent=999999", bridged(tel, tel.new_sid("CA"), tel.new_sid("CA")))
    assert response.status_code == 400


# --- the pop on the console -------------------------------------------------------------------------------
def test_the_agents_console_receives_the_screen_pop(transactional_db, twilio, tel, cast, ticket_for):
    # given a caller with six earlier tickets, and the consoles of the agent and of the dispatcher open
    numbers = [ticket_for(description=f"第{i}件：小区路灯不亮。").number for i in range(6)]
    call_sid = tel.new_sid("CA")
    twilio.post("/twilio/voice/", tel.call_params(call_sid))
    connect_url, agent_call_sid = connect_url_for(twilio, tel, "xiaowang")
    agent_cookie, dispatcher_cookie = session_cookie(cast["agent"]), session_cookie(cast["dispatcher"])

    async def scenario():
        agent_console, dispatcher_console = console(agent_cookie), console(dispatcher_cookie)
        assert (await agent_console.connect())[0] and (await dispatcher_console.connect())[0]
        # when Twilio bridges the caller to the agent (and retries that request)
        response = await sync_to_async(twilio.post)(connect_url, bridged(tel, call_sid, agent_call_sid))
        assert response.status_code == 200
        pop = await agent_console.receive_json_from(timeout=5)
        retry = await sync_to_async(twilio.post)(connect_url, bridged(tel, call_sid, agent_call_sid))
        assert retry.status_code == 200
        # then the pop reached only that agent, once
        assert await agent_console.receive_nothing(timeout=0.5)
        assert await dispatcher_console.receive_nothing(timeout=0.2)
        await agent_console.disconnect()
        await dispatcher_console.disconnect()
        return pop, response

    pop, response = async_to_sync(scenario)()
    assert pop["type"] == "screen_pop"
    assert pop["call_sid"] == call_sid
    assert pop["caller"] == tel.CITIZEN_PHONE
    assert pop["citizen"]["name"] == "张女士"
    assert pop["citizen"]["ticket_count"] == 6
    assert [t["number"] for t in pop["recent_tickets"]] == list(reversed(numbers))[:5]
    first = pop["recent_tickets"][0]
    assert set(first) == {"number", "state", "state_label", "title", "registered_at"}
    assert (first["state"], first["state_label"]) == ("registered", "待派单")
    # the caller hears that the agent is coming; the record knows who answered and after how long
    assert "正在为您接通话务员" in tel.parse(response).find("Say").text
    record = CallRecord.objects.get(call_sid=call_sid)
    assert record.answered and record.agent == cast["agent"] and record.queue_time == 17
    assert record.status == "in-progress"


def test_a_first_time_caller_pops_with_no_profile(transactional_db, twilio, tel, cast):
    call_sid = tel.new_sid("CA")
    connect_url, agent_call_sid = connect_url_for(twilio, tel, "xiaowang")
    agent_cookie = session_cookie(cast["agent"])

    async def scenario():
        agent_console = console(agent_cookie)
        assert (await agent_console.connect())[0]
        await sync_to_async(twilio.post)(connect_url, bridged(tel, call_sid, agent_call_sid) | {"From": "+8613700137000"})
        pop = await agent_console.receive_json_from(timeout=5)
        await agent_console.disconnect()
        return pop

    pop = async_to_sync(scenario)()
    assert pop == {"type": "screen_pop", "call_sid": call_sid, "caller": "+8613700137000", "citizen": None, "recent_tickets": []}


# --- when the channel layer is down -------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_failed_push_waits_in_the_outbox_while_the_call_lasts(twilio, tel, cast, settings, django_capture_on_commit_callbacks):
    # given Redis is unreachable when the caller is bridged
    call_sid = tel.new_sid("CA")
    connect_url, agent_call_sid = connect_url_for(twilio, tel, "xiaowang")
    original_layers = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = DEAD_REDIS
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio.post(connect_url, bridged(tel, call_sid, agent_call_sid))
    # then the caller is still connected, and the pop is kept
    assert response.status_code == 200
    queued = OutboxMessage.objects.get(kind=screen_pop.OUTBOX_KIND)
    assert queued.payload == {"call_id": CallRecord.objects.get(call_sid=call_sid).pk, "agent_id": cast["agent"].pk}

    # when Redis is back, the outbox delivers it to the agent's group
    settings.CHANNEL_LAYERS = original_layers

    async def listen_and_drain():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(groups.user(cast["agent"].pk), channel)
        stats = await sync_to_async(outbox.drain)()
        message = await layer.receive(channel)
        await layer.group_discard(groups.user(cast["agent"].pk), channel)
        return stats, message

    stats, message = async_to_sync(listen_and_drain)()
    assert message["type"] == "notify" and message["event"] == "screen_pop"
    assert message["data"]["call_sid"] == call_sid
    queued.refresh_from_db()
    assert queued.status == OutboxMessage.Status.DONE


@pytest.mark.django_db
def test_a_pop_for_a_call_that_has_ended_is_skipped(twilio, tel, cast, settings, django_capture_on_commit_callbacks):
    call_sid = tel.new_sid("CA")
    connect_url, agent_call_sid = connect_url_for(twilio, tel, "xiaowang")
    original_layers = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = DEAD_REDIS
    with django_capture_on_commit_callbacks(execute=True):
        twilio.post(connect_url, bridged(tel, call_sid, agent_call_sid))
    settings.CHANNEL_LAYERS = original_layers
    twilio.post("/twilio/voice/status/", tel.call_params(call_sid, CallStatus="completed", CallDuration="95"))
    outbox.drain()
    queued = OutboxMessage.objects.get(kind=screen_pop.OUTBOX_KIND)
    assert queued.status == OutboxMessage.Status.SKIPPED
    assert "has ended" in queued.last_error


# --- the agent's Voice SDK token ---------------------------------------------------------------------------
AGENT_CLIENT = {"TWILIO_API_KEY_SID": "SK" + "a" * 32, "TWILIO_API_KEY_SECRET": "agent-key-secret-0123456789abcdefghij", "TWILIO_TWIML_APP_SID": "AP" + "b" * 32}


@pytest.mark.django_db
def test_a_signed_in_agent_gets_a_voice_token_named_after_their_username(client, cast, tel, settings):
    import jwt

    for name, value in AGENT_CLIENT.items():
        setattr(settings, name, value)
    client.force_login(cast["agent"])
    response = client.get("/twilio/agent-token/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    claims = jwt.decode(body["token"], AGENT_CLIENT["TWILIO_API_KEY_SECRET"], algorithms=["HS256"])
    assert body["identity"] == claims["grants"]["identity"] == "xiaowang"
    assert claims["iss"] == AGENT_CLIENT["TWILIO_API_KEY_SID"] and claims["sub"] == tel.ACCOUNT_SID
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == AGENT_CLIENT["TWILIO_TWIML_APP_SID"]
    assert claims["exp"] - claims["nbf"] == body["expires_in"] == 3600


@pytest.mark.django_db
def test_only_hotline_staff_get_a_voice_token(client, cast, settings):
    for name, value in AGENT_CLIENT.items():
        setattr(settings, name, value)
    assert client.get("/twilio/agent-token/").status_code == 401
    client.force_login(cast["dept"])
    assert client.get("/twilio/agent-token/").status_code == 403
    client.force_login(cast["agent"])
    settings.TWILIO_TWIML_APP_SID = None
    response = client.get("/twilio/agent-token/")
    assert response.status_code == 503
    assert "TWILIO_TWIML_APP_SID" in response.json()["error"]["message"]
