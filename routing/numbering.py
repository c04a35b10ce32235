"""Ticket numbers: the day (Asia/Shanghai) and a daily sequence, e.g. ``20261122-000123``.

The sequence is one upsert that returns the new value, so concurrent
registrations on PostgreSQL (row lock on the day) or SQLite (serialized
writers) never share a number.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from routing.models import DailySequence


def next_number(at: dt.datetime | None = None) -> str:
    day = timezone.localdate(at or timezone.now())
    table = connection.ops.quote_name(DailySequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, last) VALUES (%s, 1) "
            f"ON CONFLICT (day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [day],
        )
        (value,) = cursor.fetchone()
    return f"{day:%Y%m%d}-{value:06d}"


def reserve(day: dt.date, n: int) -> list[str]:
    """``n`` consecutive numbers of ``day`` in one statement (an import's batch)."""
    table = connection.ops.quote_name(DailySequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, last) VALUES (%s, %s) "
            f"ON CONFLICT (day) DO UPDATE SET last = {table}.last + %s RETURNING last",
            [day, n, n],
        )
        (last,) = cursor.fetchone()
    return [f"{day:%Y%m%d}-{value:06d}" for value in range(last - n + 1, last + 1)]
