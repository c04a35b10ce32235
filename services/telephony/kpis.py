"""The phone lines' KPIs for the report (DOMAIN.md, GB/T 33358): 接通率, 15秒接通率, 短信3分钟回复率."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from services.telephony.models import CallRecord, SmsMessage


def answer_rate(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(answered, incoming) for calls that came in between ``start`` and ``end``."""
    counts = CallRecord.objects.filter(created_at__gte=start, created_at__lt=end, direction__startswith="inbound").aggregate(
        incoming=Count("id"), answered=Count("id", filter=Q(answered=True))
    )
    return counts["answered"], counts["incoming"]


# GB/T 33358-2016 (政府热线服务规范): a call asking for a person is answered within 15 seconds.
ANSWER_WITHIN_SECONDS = 15


def answered_within_15s(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """15秒接通率: (answered after at most 15 s in the queue, calls that asked for a person).

    A call asked for a person when the caller chose 0, waited in the queue, or was answered.
    """
    asked = CallRecord.objects.filter(created_at__gte=start, created_at__lt=end, direction__startswith="inbound").filter(
        Q(menu_choice=CallRecord.Menu.AGENT) | Q(queue_time__isnull=False) | Q(answered=True)
    )
    counts = asked.aggregate(asked=Count("id"), quick=Count("id", filter=Q(answered=True, queue_time__lte=ANSWER_WITHIN_SECONDS)))
    return counts["quick"], counts["asked"]


def sms_answered_3min(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """短信3分钟回复率: (inbound messages answered, inbound messages). The answer goes back in the
    webhook's own TwiML, seconds after the message, so a message is answered within 3 minutes when it has one."""
    counts = SmsMessage.objects.filter(direction=SmsMessage.Direction.INBOUND, created_at__gte=start, created_at__lt=end).aggregate(
        inbound=Count("id"), answered=Count("id", filter=~Q(reply=""))
    )
    return counts["answered"], counts["inbound"]
