"""The durable outbox: side effects written in the same transaction as the change.

``enqueue()`` writes a row inside the caller's transaction; a worker
(``manage.py run_worker``) claims due rows atomically, calls the handler that
a room registered for the row's kind, and retries with exponential back-off.
A handler must be idempotent on the receiving end: it gets the row (with its
``idempotency_key`` and ``attempts``) and may be called again after a crash.

Rooms register handlers at start-up (``AppConfig.ready``), so ``routing``
never imports ``services`` or ``knowledge``:

    from routing import outbox
    outbox.register_handler("sms.send", send_sms)
"""

from __future__ import annotations

import logging
import random
import socket
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from routing.models import OutboxMessage

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], "dict | None"]
_handlers: dict[str, Handler] = {}

CLAIM_LEASE = timedelta(minutes=2)
BASE_BACKOFF_SECONDS = 2
MAX_BACKOFF_SECONDS = 15 * 60


class Skip(Exception):
    """Raised by a handler when a message can never be delivered (e.g. telephony is off)."""


class Retry(Exception):
    """Raised by a handler for a temporary failure; ``after`` seconds overrides the back-off."""

    def __init__(self, message: str, *, after: float | None = None):
        super().__init__(message)
        self.after = after


def register_handler(kind: str, handler: Handler) -> None:
    """Make ``handler`` deliver outbox rows of ``kind``; one handler per kind."""
    existing = _handlers.get(kind)
    if existing is not None and existing is not handler:
        raise ValueError(f"outbox kind {kind!r} already has a handler: {existing!r}")
    _handlers[kind] = handler


def unregister_handler(kind: str) -> None:
    _handlers.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def enqueue(kind: str, payload: dict, *, key: str, delay: timedelta | None = None) -> OutboxMessage:
    """Write a side effect to deliver after commit. The same ``key`` twice is one message."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox.enqueue() must run inside transaction.atomic(), with the change it follows")
    message, _created = OutboxMessage.objects.get_or_create(
        idempotency_key=key[:160],
        defaults={"kind": kind, "payload": payload, "next_attempt_at": timezone.now() + (delay or timedelta())},
    )
    return message


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def claim(*, worker: str, limit: int = 20) -> list[OutboxMessage]:
    """Claim up to ``limit`` due rows for ``worker``; safe with several workers at once.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two workers never
    claim the same row; SQLite serializes writers (BEGIN IMMEDIATE) to the same end.
    """
    now = timezone.now()
    with transaction.atomic():
        due = (
            OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
            .exclude(claimed_until__gt=now)
            .order_by("next_attempt_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        OutboxMessage.objects.filter(id__in=ids).update(claimed_by=worker, claimed_until=now + CLAIM_LEASE)
    return list(OutboxMessage.objects.filter(id__in=ids, claimed_by=worker).order_by("id"))


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off with jitter: 2 s, 4 s, 8 s ... capped at 15 minutes."""
    base = min(BASE_BACKOFF_SECONDS * (2 ** max(attempts - 1, 0)), MAX_BACKOFF_SECONDS)
    return base * random.uniform(0.8, 1.2)


def deliver(message: OutboxMessage, *, worker: str) -> str:
    """Run the handler of one claimed message and record the outcome; returns the new status."""
    handler = handler_for(message.kind)
    now = timezone.now()
    update: dict = {"attempts": message.attempts + 1, "claimed_by": "", "claimed_until": None}
    if handler is None:
        update.update(status=OutboxMessage.Status.FAILED, last_error=f"no handler for kind {message.kind!r}")
    else:
        try:
            result = handler(message)
        except Skip as exc:
            update.update(status=OutboxMessage.Status.SKIPPED, last_error=str(exc), delivered_at=now)
        except Exception as exc:  # any failure of a delivery is retried, never lost
            attempts = update["attempts"]
            error = f"{type(exc).__name__}: {exc}"[:2000]
            if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                update.update(status=OutboxMessage.Status.FAILED, last_error=error)
                log.error("outbox %s (%s) failed for good after %d attempts: %s", message.pk, message.kind, attempts, error)
            else:
                delay = exc.after if isinstance(exc, Retry) and exc.after is not None else backoff_seconds(attempts)
                update.update(last_error=error, next_attempt_at=now + timedelta(seconds=delay))
                log.warning("outbox %s (%s) attempt %d failed, retry in %.0fs: %s", message.pk, message.kind, attempts, delay, error)
        else:
            update.update(status=OutboxMessage.Status.DONE, delivered_at=now, last_error="", result=result or {})
    # Only the worker holding the claim records the outcome.
    OutboxMessage.objects.filter(pk=message.pk, claimed_by=worker).update(**update)
    return update.get("status", OutboxMessage.Status.PENDING)


@dataclass
class RunStats:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


def run_once(*, worker: str | None = None, limit: int = 50) -> RunStats:
    """Claim and deliver one batch; returns what happened."""
    worker = worker or worker_name()
    stats = RunStats()
    for message in claim(worker=worker, limit=limit):
        status = deliver(message, worker=worker)
        if status == OutboxMessage.Status.DONE:
            stats.delivered += 1
        elif status == OutboxMessage.Status.SKIPPED:
            stats.skipped += 1
        elif status == OutboxMessage.Status.FAILED:
            stats.failed += 1
        else:
            stats.retried += 1
    return stats


def drain(*, max_rounds: int = 20) -> RunStats:
    """Deliver everything due now (tests and the demo loader); stops when nothing is due."""
    total = RunStats()
    for _ in range(max_rounds):
        stats = run_once()
        for field in ("delivered", "retried", "failed", "skipped"):
            setattr(total, field, getattr(total, field) + getattr(stats, field))
        if not (stats.delivered or stats.retried or stats.failed or stats.skipped):
            break
    return total
