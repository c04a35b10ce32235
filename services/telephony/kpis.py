"""接通率 for the KPI report: calls answered by an agent ÷ incoming calls (DOMAIN.md)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from services.telephony.models import CallRecord


def answer_rate(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(answered, incoming) for calls that came in between ``start`` and ``end``."""
    counts = CallRecord.objects.filter(created_at__gte=start, created_at__lt=end, direction__startswith="inbound").aggregate(
        incoming=Count("id"), answered=Count("id", filter=Q(answered=True))
    )
    return counts["answered"], counts["incoming"]
