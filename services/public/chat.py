"""在线咨询: the named actions of a live chat, called by the consumers and views.

Every function here is synchronous and touches only the database; the
consumers wrap them with ``database_sync_to_async`` and do the broadcasting.

The ticket of a chat is made by the agent from the chat (``register_from_chat``)
or, when no agent has joined yet, on the citizen's first message. Both go
through ``routing.intake.register_ticket`` with ``channel_ref = "chat:<token>"``,
so a chat never has two tickets. When the chat ends, its transcript becomes a
``ticket.chat_transcript`` note on the ticket's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import actions
from routing.errors import InvalidInput, NotAllowed, NotFound, TransitionConflict
from routing.intake import IntakeRequest, register_ticket
from routing.models import Category, Ticket, normalize_phone
from routing.roles import HOTLINE_ROLES, SYSTEM
from routing.states import Channel, EventKind, TicketType
from services.public.models import MAX_CHAT_MESSAGE, ChatMessage, ChatSession

TRANSCRIPT_KIND = EventKind.CHAT_TRANSCRIPT
MAX_TRANSCRIPT = 3900  # add_note keeps notes at 4000 characters


def channel_ref_for(session: ChatSession) -> str:
    return f"chat:{session.token}"


def is_chat_staff(user) -> bool:
    """Agents, dispatchers and supervisors answer chats."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "role", "") in HOTLINE_ROLES)


def clean_text(text) -> str:
    """A message's text, or InvalidInput with a code the widget shows: ``empty`` or ``too_long``."""
    if not isinstance(text, str):
        raise InvalidInput(_("消息格式不正确"), code="invalid_message")
    text = text.strip()
    if not text:
        raise InvalidInput(_("不能发送空消息"), code="empty")
    if len(text) > MAX_CHAT_MESSAGE:
        raise InvalidInput(_("消息最多 %(n)d 字，当前 %(got)d 字") % {"n": MAX_CHAT_MESSAGE, "got": len(text)}, code="too_long")
    return text


def start_session(*, name: str = "", phone: str = "", confidential: bool = False) -> ChatSession:
    """A citizen opens a chat; name and phone are optional; ``confidential``: the citizen asks 要求保密."""
    name = (name or "").strip()
    if len(name) > 100:
        raise InvalidInput(_("姓名最多 100 字"), details={"name": [_("姓名过长")]})
    digits = normalize_phone(phone)
    if phone and not 5 <= len(digits) <= 15:
        raise InvalidInput(_("电话号码格式不正确"), details={"phone": [_("电话号码格式不正确")]})
    return ChatSession.objects.create(citizen_name=name, citizen_phone=digits, confidential=bool(confidential))


def session_by_token(token: str) -> ChatSession | None:
    if not token:
        return None
    return ChatSession.objects.select_related("ticket", "agent").filter(token=token).first()


def session_for_staff(session_id) -> ChatSession:
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        raise NotFound(_("会话不存在")) from None
    session = ChatSession.objects.select_related("ticket", "agent").filter(pk=pk).first()
    if session is None:
        raise NotFound(_("会话不存在"))
    return session


def waiting_sessions() -> list[ChatSession]:
    """Chats no agent has taken yet, the longest waiting first."""
    return list(ChatSession.objects.filter(status=ChatSession.Status.WAITING).select_related("ticket").order_by("created_at", "id")[:100])


@dataclass
class Posted:
    message: ChatMessage
    ticket: Ticket | None = None  # set when this message created the chat's ticket


def post_message(session: ChatSession, *, sender: str, text, author=None) -> Posted:
    """Store one message; the citizen's first message makes the ticket when no agent has joined."""
    text = clean_text(text)
    with transaction.atomic():
        locked = ChatSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == ChatSession.Status.CLOSED:
            raise TransitionConflict(_("会话已结束"), code="closed")
        if sender == ChatMessage.Sender.AGENT and locked.agent_id != getattr(author, "pk", None):
            raise NotAllowed(_("请先接入该会话"), code="not_joined")
        message = ChatMessage.objects.create(session=locked, sender=sender, author=author, text=text)
        created_ticket = None
        if sender == ChatMessage.Sender.CITIZEN and locked.ticket_id is None and locked.agent_id is None:
            created_ticket = _register(locked, description=text, by=SYSTEM)
    session.ticket_id, session.agent_id, session.status = locked.ticket_id, locked.agent_id, locked.status
    return Posted(message=message, ticket=created_ticket)


def _register(session: ChatSession, *, description: str, by, type: str = TicketType.INQUIRY, category: Category | None = None) -> Ticket:
    result = register_ticket(
        IntakeRequest(
            channel=Channel.CHAT,
            channel_ref=channel_ref_for(session),
            description=description,
            type=type,
            category=category,
            citizen_name=session.citizen_name,
            citizen_phone=session.citizen_phone,
            confidential=session.confidential,
        ),
        by=by,
    )
    ChatSession.objects.filter(pk=session.pk).update(ticket=result.ticket)
    session.ticket = result.ticket
    return result.ticket


def join(session: ChatSession, *, agent) -> ChatSession:
    """接入: an agent takes a waiting chat (or comes back to their own)."""
    if not is_chat_staff(agent):
        raise NotAllowed(_("只有话务员、派单员或督办可以接入会话"))
    with transaction.atomic():
        locked = ChatSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == ChatSession.Status.CLOSED:
            raise TransitionConflict(_("会话已结束"), code="closed")
        if locked.agent_id not in (None, agent.pk):
            raise TransitionConflict(_("该会话已由其他工作人员接入"), code="taken")
        locked.agent = agent
        locked.status = ChatSession.Status.ACTIVE
        locked.save(update_fields=["agent", "status"])
    return locked


def register_from_chat(session: ChatSession, *, agent, description: str = "", type: str = TicketType.INQUIRY, category_id=None) -> tuple[Ticket, bool]:
    """登记: the agent makes the chat's ticket; returns (ticket, created). A chat already linked keeps its ticket."""
    if session.agent_id != agent.pk:
        raise NotAllowed(_("请先接入该会话"), code="not_joined")
    if session.ticket_id is not None:
        return session.ticket, False
    category = None
    if category_id not in (None, ""):
        category = Category.objects.filter(pk=category_id).first() if str(category_id).isdigit() else None
        if category is None:
            raise InvalidInput(_("分类不存在"), details={"category": [_("分类不存在")]})
    description = (description or "").strip() or _citizen_text(session)
    if not description:
        raise InvalidInput(_("请填写诉求内容"), code="empty", details={"description": [_("不能为空")]})
    with transaction.atomic():
        ChatSession.objects.select_for_update().get(pk=session.pk)
        ticket = _register(session, description=description, by=agent, type=type or TicketType.INQUIRY, category=category)
    return ticket, True


def _citizen_text(session: ChatSession) -> str:
    lines = session.messages.filter(sender=ChatMessage.Sender.CITIZEN).values_list("text", flat=True)
    return "\n".join(lines)[:4000]


def transcript(session: ChatSession) -> str:
    """The chat as plain text, one line per message, in local time."""
    names = {ChatMessage.Sender.CITIZEN: _("市民"), ChatMessage.Sender.AGENT: _("话务员"), ChatMessage.Sender.SYSTEM: _("系统")}
    lines = [
        f"[{timezone.localtime(m.created_at):%H:%M:%S}] {names.get(m.sender, m.sender)}：{m.text}"
        for m in session.messages.order_by("created_at", "id")
    ]
    text = "\n".join(lines)
    if len(text) > MAX_TRANSCRIPT:
        text = text[: MAX_TRANSCRIPT - 20] + "\n" + _("……（记录过长已截断）")
    return text


def end(session: ChatSession, *, by=None) -> tuple[ChatSession, bool]:
    """结束会话; the transcript goes on the ticket's timeline. Returns (session, ended_now)."""
    with transaction.atomic():
        locked = ChatSession.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=session.pk)
        if locked.status == ChatSession.Status.CLOSED:
            return locked, False
        if by is not None and getattr(by, "is_authenticated", False) and locked.agent_id != by.pk:
            raise NotAllowed(_("请先接入该会话"), code="not_joined")
        locked.status = ChatSession.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at"])
        ChatMessage.objects.create(session=locked, sender=ChatMessage.Sender.SYSTEM, text=_("会话已结束"))
        if locked.ticket is not None:
            text = transcript(locked)
            actions.add_note(locked.ticket, text=text, by=by if by is not None else SYSTEM, kind=TRANSCRIPT_KIND)
    return locked, True


def close_idle(*, idle_for: timedelta) -> int:
    """End every open chat with no message for ``idle_for`` (a citizen who closed the page); returns how many."""
    cutoff = timezone.now() - idle_for
    idle = (
        ChatSession.objects.exclude(status=ChatSession.Status.CLOSED)
        .annotate(last_activity=Coalesce(Max("messages__created_at"), "created_at"))
        .filter(last_activity__lt=cutoff)
    )
    ended = 0
    for session in idle:
        _session, now_ended = end(session)
        ended += int(now_ended)
    return ended
