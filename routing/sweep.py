"""督办 sweep: yellow cards (due within 1 working day) and red cards (overdue), each given once.

Run by the worker every ``SWEEP_INTERVAL_SECONDS``; running it again, or on two
workers at once, gives no second card: each card is claimed by a conditional
UPDATE (``... WHERE yellow_card_at IS NULL``) before its event is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from routing import effects, groups, outbox
from routing.actions import record_event
from routing.models import Ticket
from routing.roles import SYSTEM, Role
from routing.states import EventKind, State


@dataclass
class SweepResult:
    yellow: int = 0
    red: int = 0

    def __bool__(self) -> bool:
        return bool(self.yellow or self.red)


def _deadline_name(ticket: Ticket) -> str:
    # Not yet accepted (dispatched, or asking to return before accepting): the accept deadline runs.
    return "accept" if ticket.accepted_at is None else "handle"


CARD_KIND = {"yellow": EventKind.CARD_YELLOW, "red": EventKind.CARD_RED}


def _card(ticket_id: int, *, colour: str, now) -> bool:
    field = f"{colour}_card_at"
    with transaction.atomic():
        claimed = Ticket.objects.filter(pk=ticket_id, **{f"{field}__isnull": True}).update(**{field: now})
        if not claimed:
            return False
        ticket = Ticket.objects.select_related("department").get(pk=ticket_id)
        data = {"deadline": _deadline_name(ticket), "due_at": ticket.due_at.isoformat() if ticket.due_at else None}
        if colour == "red" and data["deadline"] == "handle" and ticket.handle_settled_at is None:
            # Overdue before any reply: this settles the handling round as late (routing.kpis).
            Ticket.objects.filter(pk=ticket_id).update(handle_settled_at=now)
            data["settles"] = True
        event = record_event(ticket, kind=CARD_KIND[colour], actor=SYSTEM, from_state=ticket.state, data=data, department=ticket.department)
        effects.push(ticket, event)
        audience = [groups.role(Role.SUPERVISOR)] + ([groups.department(ticket.department_id)] if ticket.department_id else [])
        outbox.enqueue(
            "ws.group",
            {"groups": audience, "data": {"number": ticket.number, "card": colour, "deadline": data["deadline"], "kind": event.kind}},
            key=f"card:{ticket.pk}:{event.pk}",
        )
    return True


def run(*, now=None, batch: int = 500) -> SweepResult:
    """Give every due card once; returns how many were given now."""
    now = now or timezone.now()
    result = SweepResult()
    running = Ticket.objects.filter(state__in=State.running())
    red_ids = list(running.filter(due_at__lt=now, red_card_at__isnull=True).values_list("pk", flat=True)[:batch])
    for pk in red_ids:
        result.red += _card(pk, colour="red", now=now)
    yellow_ids = list(running.filter(warn_at__lte=now, due_at__gte=now, yellow_card_at__isnull=True).values_list("pk", flat=True)[:batch])
    for pk in yellow_ids:
        result.yellow += _card(pk, colour="yellow", now=now)
    return result
