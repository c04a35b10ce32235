"""在线咨询3分钟响应率 for the KPI report (GB/T 33358-2016: online messages answered within 3 minutes).

A chat counts in the period of the citizen's first message; it was answered in time when an agent's
first message came at most three minutes after it. The system's own lines (the ticket number it
registered) are an acknowledgement, not an answer, and do not count.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Min, Q

from services.public.models import ChatMessage, ChatSession

RESPONSE_WITHIN = dt.timedelta(minutes=3)


def chat_answered_3min(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(chats an agent answered within 3 minutes of the citizen's first message, chats the citizen wrote in)."""
    sessions = (
        ChatSession.objects.annotate(
            first_citizen=Min("messages__created_at", filter=Q(messages__sender=ChatMessage.Sender.CITIZEN)),
            first_agent=Min("messages__created_at", filter=Q(messages__sender=ChatMessage.Sender.AGENT)),
        )
        .filter(first_citizen__gte=start, first_citizen__lt=end)
        .values_list("first_citizen", "first_agent")
    )
    asked = answered = 0
    for first_citizen, first_agent in sessions.iterator(chunk_size=2000):
        asked += 1
        if first_agent is not None and first_agent - first_citizen <= RESPONSE_WITHIN:
            answered += 1
    return answered, asked
