"""在线咨询 in one process: the real ASGI application, the Redis channel layer, PostgreSQL.

Consumers run their database work in threads, so these tests use a
transactional database (committed rows, truncated after each test).
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from hotline.asgi import application
from routing.models import Ticket, TicketEvent
from services.public import chat, chat_auth
from services.public.models import ChatMessage, ChatSession

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
TIMEOUT = 5


def run(coroutine_function):
    """Run an async test body from a sync test (pytest-asyncio is not part of the suite)."""
    return async_to_sync(coroutine_function)()


def start_chat(client: Client | None = None, **data) -> str:
    response = (client or Client()).post("/chat/start/", data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ws_url"] == f"/ws/chat/{body['token']}/"
    return body["token"]


def citizen_socket(token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/chat/{token}/", headers=ORIGIN)


def agent_socket(user=None, *, path: str = "/ws/agent/chat/") -> WebsocketCommunicator:
    headers = list(ORIGIN)
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def expect(comm: WebsocketCommunicator, frame_type: str) -> dict:
    """The next frame of ``frame_type``, skipping others (presence, lobby updates)."""
    for _ in range(20):
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type!r} frame")


async def connected(comm: WebsocketCommunicator) -> WebsocketCommunicator:
    ok, code = await comm.connect(timeout=TIMEOUT)
    assert ok, code
    return comm


# --- starting ----------------------------------------------------------------------------
def test_start_creates_a_waiting_session_with_an_unguessable_token():
    token = start_chat(name="王女士", phone="13800138000")
    session = ChatSession.objects.get(token=token)
    assert session.status == "waiting" and session.citizen_name == "王女士" and session.citizen_phone == "13800138000"
    assert len(token) >= 40


@pytest.mark.parametrize("data", [{"phone": "12"}, {"name": "名" * 101}])
def test_start_refuses_bad_contact_details(data):
    response = Client().post("/chat/start/", data)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert ChatSession.objects.count() == 0


def test_start_is_rate_limited_per_address(settings):
    settings.PUBLIC_RATE_LIMITS = {"chat.start.ip": (2, 600)}
    client = Client()
    assert [client.post("/chat/start/").status_code for _ in range(3)] == [201, 201, 429]
    assert ChatSession.objects.count() == 2


def test_start_needs_csrf():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/chat/start/").status_code == 403


def test_the_chat_page_renders_the_widget():
    html = Client().get("/chat/").content.decode()
    assert 'id="chat-widget"' in html and "public/chat.js" in html and "csrfmiddlewaretoken" in html


# --- the citizen alone ---------------------------------------------------------------------
def test_unknown_token_is_refused():
    async def body():
        comm = citizen_socket("not-a-real-token")
        ok, code = await comm.connect(timeout=TIMEOUT)
        assert not ok and code == 4404

    run(body)


def test_first_citizen_message_creates_the_ticket_when_no_agent_has_joined():
    token = start_chat(name="王女士", phone="13800138000")

    async def body():
        comm = await connected(citizen_socket(token))
        history = await expect(comm, "history")
        assert history["messages"] == [] and history["session"]["status"] == "waiting"
        await comm.send_json_to({"type": "message", "text": "  请问公积金怎么提取？ "})
        message = await expect(comm, "message")
        assert message["text"] == "请问公积金怎么提取？" and message["sender"] == "citizen"
        ticket_frame = await expect(comm, "ticket")
        await comm.send_json_to({"type": "message", "text": "我在东城区"})
        await expect(comm, "message")
        await comm.disconnect()
        return ticket_frame

    ticket_frame = run(body)
    ticket = Ticket.objects.get()
    assert ticket_frame["number"] == ticket.number
    assert ticket.channel == "chat" and ticket.channel_ref == f"chat:{token}" and ticket.type == "inquiry"
    assert ticket.description == "请问公积金怎么提取？"
    assert ticket.citizen.phone == "13800138000"
    assert ChatSession.objects.get(token=token).ticket == ticket
    assert ChatMessage.objects.filter(session__token=token).count() == 2


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"type": "message", "text": ""}, "empty"),
        ({"type": "message", "text": "   \n\t "}, "empty"),
        ({"type": "message"}, "invalid_message"),
        ({"type": "message", "text": ["list"]}, "invalid_message"),
        ({"type": "message", "text": "长" * 2001}, "too_long"),
        ({"type": "shout", "text": "hi"}, "unknown_type"),
    ],
)
def test_bad_messages_get_an_error_frame_and_nothing_is_stored(frame, code):
    token = start_chat()

    async def body():
        comm = await connected(citizen_socket(token))
        await expect(comm, "history")
        await comm.send_json_to(frame)
        error = await expect(comm, "error")
        await comm.disconnect()
        return error

    error = run(body)
    assert error["code"] == code and error["message"]
    assert ChatMessage.objects.count() == 0
    assert Ticket.objects.count() == 0


def test_frames_that_are_not_json_objects_or_too_large_are_refused():
    token = start_chat()

    async def body():
        comm = await connected(citizen_socket(token))
        await expect(comm, "history")
        codes = []
        for raw in ("not json", "[1, 2]", json.dumps({"type": "message", "text": "x" * 20000})):
            await comm.send_to(text_data=raw)
            codes.append((await expect(comm, "error"))["code"])
        await comm.send_to(bytes_data=b"\x00\x01")
        codes.append((await expect(comm, "error"))["code"])
        await comm.disconnect()
        return codes

    assert run(body) == ["invalid_frame", "invalid_frame", "too_long", "invalid_frame"]
    assert ChatMessage.objects.count() == 0 and Ticket.objects.count() == 0


# --- agent auth ----------------------------------------------------------------------------
def test_agent_socket_refuses_the_anonymous_and_department_staff(cast):
    anonymous, department, forged = agent_socket(), agent_socket(cast["dept"]), agent_socket(path="/ws/agent/chat/?token=forged")

    async def body():
        assert await anonymous.connect(timeout=TIMEOUT) == (False, 4401)
        assert await department.connect(timeout=TIMEOUT) == (False, 4403)
        assert await forged.connect(timeout=TIMEOUT) == (False, 4401)

    run(body)


def test_agent_socket_accepts_a_signed_token(cast):
    token = chat_auth.issue_token(cast["dispatcher"])

    async def body():
        comm = await connected(agent_socket(path=f"/ws/agent/chat/?token={token}"))
        waiting = await expect(comm, "waiting")
        await comm.disconnect()
        return waiting

    assert run(body)["sessions"] == []


def test_agent_token_endpoint(cast):
    client = Client()
    assert client.get("/chat/agent/token/").status_code == 401
    client.force_login(cast["dept"])
    assert client.get("/chat/agent/token/").status_code == 403
    client.force_login(cast["agent"])
    body = client.get("/chat/agent/token/").json()
    assert chat_auth.user_for_token(body["token"]) == cast["agent"]
    assert body["ws_url"].startswith("/ws/agent/chat/?token=")


def test_a_token_dies_with_a_password_change(cast):
    token = chat_auth.issue_token(cast["agent"])
    cast["agent"].set_password("another-password-123")
    cast["agent"].save()
    assert chat_auth.user_for_token(token) is None


# --- both sides -------------------------------------------------------------------------------
def test_agent_joins_talks_registers_and_ends_with_a_transcript(cast, categories):
    token = start_chat(name="李先生", phone="13900139000")
    session_id = ChatSession.objects.get(token=token).pk

    agent_comm = agent_socket(cast["agent"])

    async def body():
        agent = await connected(agent_comm)
        waiting = await expect(agent, "waiting")
        assert [s["id"] for s in waiting["sessions"]] == [session_id]

        citizen = await connected(citizen_socket(token))
        await expect(citizen, "history")
        # the agent has not joined this chat's group yet, so no presence reaches them
        await agent.receive_nothing(timeout=0.3)

        await agent.send_json_to({"type": "join", "session": session_id})
        joined = await expect(agent, "joined")
        assert joined["session"]["status"] == "active"
        presence = await expect(citizen, "presence")
        assert presence["who"] == "agent" and presence["state"] == "online"

        # typing reaches the other side only
        await citizen.send_json_to({"type": "typing", "active": True})
        typing = await expect(agent, "typing")
        assert typing == {"type": "typing", "session": session_id, "sender": "citizen", "active": True}

        # the agent has joined, so the citizen's first message does not make a ticket
        await citizen.send_json_to({"type": "message", "text": "楼下烧烤油烟太大"})
        assert (await expect(agent, "message"))["text"] == "楼下烧烤油烟太大"
        assert (await expect(citizen, "message"))["sender"] == "citizen"

        await agent.send_json_to({"type": "message", "session": session_id, "text": "您好，请问具体地址？"})
        reply = await expect(citizen, "message")
        assert reply["sender"] == "agent" and reply["text"] == "您好，请问具体地址？"

        await agent.send_json_to({"type": "message", "session": session_id, "text": ""})
        assert (await expect(agent, "error"))["code"] == "empty"

        await agent.send_json_to({"type": "register", "session": session_id, "ticket_type": "complaint", "category": categories["lamp"].pk})
        registered = await expect(agent, "registered")
        assert registered["created"] is True
        assert (await expect(citizen, "ticket"))["number"] == registered["number"]
        await agent.send_json_to({"type": "register", "session": session_id})
        again = await expect(agent, "registered")
        assert again == {"type": "registered", "session": session_id, "number": registered["number"], "created": False}

        await agent.send_json_to({"type": "end", "session": session_id})
        await expect(citizen, "closed")
        await expect(agent, "closed")
        await citizen.send_json_to({"type": "message", "text": "还在吗"})
        assert (await expect(citizen, "error"))["code"] == "closed"
        await citizen.disconnect()
        await agent.disconnect()
        return registered["number"]

    number = run(body)
    ticket = Ticket.objects.get()
    assert ticket.number == number and ticket.type == "complaint" and ticket.category == categories["lamp"]
    assert ticket.registered_by == cast["agent"] and ticket.channel_ref == f"chat:{token}"
    assert ticket.description == "楼下烧烤油烟太大"  # the citizen's words when the agent typed none
    transcript = TicketEvent.objects.get(ticket=ticket, kind="ticket.chat_transcript")
    assert transcript.public is False and transcript.actor == cast["agent"]
    lines = transcript.data["text"].splitlines()
    assert lines[0].endswith("市民：楼下烧烤油烟太大") and lines[1].endswith("话务员：您好，请问具体地址？")
    assert lines[-1].endswith("系统：会话已结束")
    session = ChatSession.objects.get(token=token)
    assert session.status == "closed" and session.closed_at is not None and session.agent == cast["agent"]
    assert ChatMessage.objects.filter(session=session).count() == 3


def test_a_taken_chat_cannot_be_joined_by_another_agent_and_others_cannot_post(cast):
    token = start_chat()
    session_id = ChatSession.objects.get(token=token).pk

    first_comm, second_comm = agent_socket(cast["agent"]), agent_socket(cast["agent2"])

    async def body():
        first = await connected(first_comm)
        second = await connected(second_comm)
        await first.send_json_to({"type": "join", "session": session_id})
        await expect(first, "joined")
        await second.send_json_to({"type": "join", "session": session_id})
        taken = await expect(second, "error")
        await second.send_json_to({"type": "message", "session": session_id, "text": "我来插一句"})
        not_joined = await expect(second, "error")
        await second.send_json_to({"type": "join", "session": 999999})
        missing = await expect(second, "error")
        await first.disconnect()
        await second.disconnect()
        return taken, not_joined, missing

    taken, not_joined, missing = run(body)
    assert taken["code"] == "taken" and not_joined["code"] == "not_joined" and missing["code"] == "not_found"
    assert ChatMessage.objects.count() == 0


def test_citizen_ends_the_chat_and_the_auto_ticket_gets_the_transcript():
    token = start_chat(phone="13800138000")

    async def body():
        citizen = await connected(citizen_socket(token))
        await expect(citizen, "history")
        await citizen.send_json_to({"type": "message", "text": "路灯不亮"})
        await expect(citizen, "ticket")
        await citizen.send_json_to({"type": "end"})
        await expect(citizen, "closed")
        await citizen.send_json_to({"type": "end"})  # ending twice is harmless
        await citizen.receive_nothing(timeout=0.3)
        await citizen.disconnect()

    run(body)
    ticket = Ticket.objects.get()
    events = TicketEvent.objects.filter(ticket=ticket, kind="ticket.chat_transcript")
    assert events.count() == 1 and events.get().actor_role == "system"
    assert "路灯不亮" in events.get().data["text"]


def test_the_transcript_of_a_long_chat_is_cut_to_fit_a_note(cast):
    session = chat.start_session()
    chat.join(session, agent=cast["agent"])
    for n in range(5):
        chat.post_message(session, sender="citizen", text="很长的消息" * 300)
    ticket, created = chat.register_from_chat(session, agent=cast["agent"])
    assert created and len(ticket.description) <= 4000
    chat.end(session, by=cast["agent"])
    text = TicketEvent.objects.get(ticket=ticket, kind="ticket.chat_transcript").data["text"]
    assert len(text) <= 4000 and text.endswith("（记录过长已截断）")


def test_idle_chats_are_closed_with_their_transcript(cast):
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    idle = chat.start_session(phone="13800138000")
    posted = chat.post_message(idle, sender="citizen", text="有人吗")
    fresh = chat.start_session()
    silent = chat.start_session()
    long_ago = timezone.now() - dt.timedelta(hours=2)
    ChatMessage.objects.filter(pk=posted.message.pk).update(created_at=long_ago)
    ChatSession.objects.filter(pk__in=[idle.pk, silent.pk]).update(created_at=long_ago)
    call_command("close_idle_chats", "--minutes", "60")
    statuses = dict(ChatSession.objects.values_list("pk", "status"))
    assert statuses == {idle.pk: "closed", fresh.pk: "waiting", silent.pk: "closed"}
    assert TicketEvent.objects.filter(ticket=posted.ticket, kind="ticket.chat_transcript").count() == 1


def test_the_agent_panel_partial_renders_on_its_own():
    from django.template.loader import render_to_string

    html = render_to_string("public/partials/agent_chat.html")
    assert 'id="agent-chat"' in html and "public/agent_chat.js" in html
    assert '<option value="complaint">投诉</option>' in html


def test_a_phone_typed_in_the_chat_is_masked_for_the_department_and_the_chat_can_ask_for_confidentiality(cast):
    """Issue 15 item 7: the transcript and the description showed the number a citizen typed to department staff."""
    from rest_framework.test import APIClient

    from routing import actions

    token = start_chat(name="李先生", phone="13800138000", confidential="1")

    async def body():
        citizen = await connected(citizen_socket(token))
        await expect(citizen, "history")
        await citizen.send_json_to({"type": "message", "text": "路灯不亮，打我另一个手机 13912345678 或座机 87654321"})
        await expect(citizen, "ticket")
        await citizen.send_json_to({"type": "end"})
        await expect(citizen, "closed")
        await citizen.disconnect()

    run(body)
    ticket = Ticket.objects.get()
    assert ticket.confidential  # the chat's 要求保密 reached the ticket
    ticket = actions.dispatch_ticket(ticket, department=cast["dept"].department, by=cast["dispatcher"])

    def seen_by(user) -> str:
        api = APIClient()
        api.force_authenticate(user)
        detail = api.get(f"/api/v1/tickets/{ticket.number}/").json()
        events = api.get(f"/api/v1/tickets/{ticket.number}/events/").json()
        page = Client()
        page.force_login(user)
        html = page.get(f"/tickets/{ticket.number}/").content.decode()
        return json.dumps([detail, events], ensure_ascii=False) + html

    department, dispatcher = seen_by(cast["dept"]), seen_by(cast["dispatcher"])
    for secret in ("13912345678", "87654321", "13800138000", "李先生"):
        assert secret not in department, secret
    assert "139****5678" in department and "******21" in department
    assert "13912345678" in dispatcher and "87654321" in dispatcher  # the hotline reads what the citizen wrote
