"""Live chat over Channels: the citizen's side and the agent's side.

Every chat has one channel-layer group (``ChatSession.group_name``); agents
also listen to the lobby group, which carries the list of waiting chats.
With the Redis channel layer the two sides may sit on different daphne
processes. Frames the server sends (``type``):

- ``history``   on connect: the chat's state and every message so far
- ``message``   a stored message (also echoed to its sender)
- ``typing``    the other side is typing (``active`` true/false); not stored
- ``presence``  someone came or went (``who``: citizen/agent, ``state``)
- ``ticket``    the chat now has a ticket (``number``)
- ``closed``    the chat ended
- ``waiting``   (agents) the chats waiting for an agent
- ``joined``    (agents) you joined a chat: its history follows
- ``error``     what was wrong with the last frame (``code``, ``message``); nothing was stored
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline import input as bad_input
from routing.errors import DomainError, NotAllowed
from services.public import chat, chat_auth
from services.public.models import ChatMessage, ChatSession

LOBBY_GROUP = "chat.lobby"
# A frame larger than this is refused before it is parsed (a message is at most 2000 characters).
MAX_FRAME_CHARS = 16 * 1024


def _iso(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


def message_frame(message: ChatMessage) -> dict:
    return {
        "type": "message",
        "session": message.session_id,
        "id": message.pk,
        "sender": message.sender,
        "text": message.text,
        "created_at": _iso(message.created_at),
    }


def session_summary(session: ChatSession) -> dict:
    return {
        "id": session.pk,
        "status": session.status,
        "citizen_name": session.citizen_name,
        "ticket": session.ticket.number if session.ticket_id and session.ticket else None,
        "created_at": _iso(session.created_at),
    }


def _history(session_id: int) -> dict:
    session = ChatSession.objects.select_related("ticket").get(pk=session_id)
    messages = [message_frame(m) for m in session.messages.order_by("created_at", "id")[:500]]
    return {"type": "history", "session": session_summary(session), "messages": messages}


def _waiting() -> list[dict]:
    return [session_summary(s) for s in chat.waiting_sessions()]



def parse_frame(text: str) -> dict | None:
    """A client's frame as a JSON object; None when it is not one (bad, too deep, NUL characters)."""
    try:
        content = bad_input.loads(text)
    except ValueError:
        return None
    return content if isinstance(content, dict) else None

class ChatEventsMixin:
    """Channel-layer events of a chat group, turned into frames for this socket."""

    async def send_error(self, code: str, message: str, **extra):
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("invalid_frame", _("只接受文本消息"))
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self.send_error("too_long", _("消息过长"))
            return
        content = parse_frame(text_data)
        if content is None:
            await self.send_error("invalid_frame", _("消息格式不正确"))
            return
        await self.receive_json(content)

    async def broadcast(self, group: str, event: str, **data):
        await self.channel_layer.group_send(group, {"type": event, "origin": self.channel_name, **data})

    async def chat_message(self, event):
        await self.send_json(event["frame"])

    async def chat_typing(self, event):
        if event.get("origin") != self.channel_name:
            await self.send_json({"type": "typing", "session": event["session"], "sender": event["sender"], "active": event["active"]})

    async def chat_presence(self, event):
        if event.get("origin") != self.channel_name:
            await self.send_json({"type": "presence", "session": event["session"], "who": event["who"], "state": event["state"]})

    async def chat_ticket(self, event):
        await self.send_json({"type": "ticket", "session": event["session"], "number": event["number"]})

    async def chat_closed(self, event):
        await self.send_json({"type": "closed", "session": event["session"]})

    async def chat_lobby(self, event):
        await self.send_json({"type": "waiting", "sessions": event["sessions"]})

    async def announce_lobby(self):
        await self.broadcast(LOBBY_GROUP, "chat.lobby", sessions=await database_sync_to_async(_waiting)())


class CitizenChatConsumer(ChatEventsMixin, AsyncJsonWebsocketConsumer):
    """``ws/chat/<token>/``: no login; the token from POST /chat/start/ is the credential."""

    async def connect(self):
        token = self.scope["url_route"]["kwargs"].get("token", "")
        self.session = await database_sync_to_async(chat.session_by_token)(token)
        if self.session is None:
            await self.close(code=4404)
            return
        self.group = self.session.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(_history)(self.session.pk))
        await self.broadcast(self.group, "chat.presence", session=self.session.pk, who="citizen", state="online")

    async def disconnect(self, code):
        if getattr(self, "session", None) is None:
            return
        await self.broadcast(self.group, "chat.presence", session=self.session.pk, who="citizen", state="offline")
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        if kind == "message":
            try:
                posted = await database_sync_to_async(chat.post_message)(self.session, sender=ChatMessage.Sender.CITIZEN, text=content.get("text"))
            except DomainError as exc:
                await self.send_error(exc.code, exc.message)
                return
            await self.broadcast(self.group, "chat.message", frame=message_frame(posted.message))
            if posted.ticket is not None:
                await self.broadcast(self.group, "chat.ticket", session=self.session.pk, number=posted.ticket.number)
                await self.announce_lobby()
        elif kind == "typing":
            await self.broadcast(self.group, "chat.typing", session=self.session.pk, sender="citizen", active=bool(content.get("active")))
        elif kind == "end":
            _session, ended = await database_sync_to_async(chat.end)(self.session)
            if ended:
                await self.broadcast(self.group, "chat.closed", session=self.session.pk)
                await self.announce_lobby()
        else:
            await self.send_error("unknown_type", _("未知的消息类型"))


class AgentChatConsumer(ChatEventsMixin, AsyncJsonWebsocketConsumer):
    """``ws/agent/chat/``: signed-in agents, dispatchers and supervisors (session cookie or ``?token=``)."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            token = parse_qs(self.scope.get("query_string", b"").decode("latin1")).get("token", [""])[0]
            user = await database_sync_to_async(chat_auth.user_for_token)(token) if token else None
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=4401)
            return
        if not chat.is_chat_staff(user):
            await self.close(code=4403)
            return
        self.user = user
        self.joined: dict[int, str] = {}
        await self.channel_layer.group_add(LOBBY_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "waiting", "sessions": await database_sync_to_async(_waiting)()})

    async def disconnect(self, code):
        if getattr(self, "user", None) is None:
            return
        for session_id, group in self.joined.items():
            await self.broadcast(group, "chat.presence", session=session_id, who="agent", state="offline")
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.channel_layer.group_discard(LOBBY_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        handler = {
            "list": self.do_list,
            "join": self.do_join,
            "message": self.do_message,
            "typing": self.do_typing,
            "register": self.do_register,
            "end": self.do_end,
            "leave": self.do_leave,
        }.get(kind)
        if handler is None:
            await self.send_error("unknown_type", _("未知的消息类型"))
            return
        try:
            await handler(content)
        except DomainError as exc:
            await self.send_error(exc.code, exc.message, session=content.get("session"))

    async def _session(self, content) -> ChatSession:
        return await database_sync_to_async(chat.session_for_staff)(content.get("session"))

    async def do_list(self, content):
        await self.send_json({"type": "waiting", "sessions": await database_sync_to_async(_waiting)()})

    async def do_join(self, content):
        session = await database_sync_to_async(chat.join)(await self._session(content), agent=self.user)
        if session.pk not in self.joined:
            self.joined[session.pk] = session.group_name
            await self.channel_layer.group_add(session.group_name, self.channel_name)
        history = await database_sync_to_async(_history)(session.pk)
        await self.send_json({"type": "joined", "session": history["session"], "messages": history["messages"]})
        await self.broadcast(session.group_name, "chat.presence", session=session.pk, who="agent", state="online")
        await self.announce_lobby()

    async def do_message(self, content):
        session = await self._joined_session(content)
        posted = await database_sync_to_async(chat.post_message)(session, sender=ChatMessage.Sender.AGENT, text=content.get("text"), author=self.user)
        await self.broadcast(session.group_name, "chat.message", frame=message_frame(posted.message))

    async def do_typing(self, content):
        session = await self._joined_session(content)
        await self.broadcast(session.group_name, "chat.typing", session=session.pk, sender="agent", active=bool(content.get("active")))

    async def do_register(self, content):
        session = await self._joined_session(content)
        ticket, created = await database_sync_to_async(chat.register_from_chat)(
            session,
            agent=self.user,
            description=str(content.get("description") or ""),
            type=str(content.get("ticket_type") or "inquiry"),
            category_id=content.get("category"),
        )
        await self.send_json({"type": "registered", "session": session.pk, "number": ticket.number, "created": created})
        await self.broadcast(session.group_name, "chat.ticket", session=session.pk, number=ticket.number)

    async def do_end(self, content):
        session = await self._joined_session(content)
        _session, ended = await database_sync_to_async(chat.end)(session, by=self.user)
        if ended:
            await self.broadcast(session.group_name, "chat.closed", session=session.pk)
            await self.announce_lobby()

    async def do_leave(self, content):
        session = await self._joined_session(content)
        await self.broadcast(session.group_name, "chat.presence", session=session.pk, who="agent", state="offline")
        await self.channel_layer.group_discard(session.group_name, self.channel_name)
        self.joined.pop(session.pk, None)

    async def _joined_session(self, content) -> ChatSession:
        session = await self._session(content)
        if session.pk not in self.joined:
            raise NotAllowed(_("请先接入该会话"), code="not_joined")
        return session
