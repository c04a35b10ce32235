"""Side effects of a ticket's steps, written to the outbox in the same transaction.

Kinds (handlers are registered by the room that delivers them):

- ``ws.group``          push ``{"type": "ticket.changed", ...}`` to channel-layer groups (routing)
- ``search.ticket``     re-index one ticket (knowledge)
- ``citizen.notify``    tell the citizen something by SMS: ``registered``, ``reply``, ``survey``, ``transferred`` (services)
- ``ticket.card``       yellow/red card notice to the department and supervisors (ws push, routing)
- ``call.transfer``     redirect the live call of a transferred phone ticket to the line's number (services)
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from routing import groups, outbox
from routing.models import OutboxMessage, Ticket, TicketEvent
from routing.roles import Role
from routing.states import State


def audience(ticket: Ticket) -> list[str]:
    """The groups that see a ticket's queue entry change."""
    names = [groups.role(Role.DISPATCHER), groups.role(Role.SUPERVISOR), groups.ticket(ticket.number)]
    if ticket.state in {State.REPLY_APPROVED, State.RATED}:
        names.append(groups.role(Role.AGENT))  # the agents' callback queue
    for department_id in (ticket.department_id, ticket.parent_department_id):
        if department_id:
            names.append(groups.department(department_id))
    names.extend(groups.department(pk) for pk in ticket.assisting_departments.values_list("pk", flat=True))
    return sorted(set(names))


def after_transition(ticket: Ticket, event: TicketEvent, *, notify_citizen: list[str] = ()) -> None:
    """Queue what follows any step: live queue updates, the search index, messages to the citizen."""
    push(ticket, event)
    outbox.enqueue("search.ticket", {"ticket_id": ticket.pk}, key=f"search.ticket:{ticket.pk}:{event.pk}")
    for template in notify_citizen:
        notify(ticket, template, key_suffix=str(event.pk))


def push(ticket: Ticket, event: TicketEvent) -> None:
    message = {
        "number": ticket.number,
        "state": ticket.state,
        "kind": event.kind,
        "department": ticket.department_id,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
    }
    outbox.enqueue("ws.group", {"groups": audience(ticket), "data": message}, key=f"ws:{ticket.pk}:{event.pk}")


def notify(ticket: Ticket, template: str, *, key_suffix: str) -> None:
    """An SMS to the citizen, when there is a phone to send it to."""
    if ticket.citizen_id is None or not ticket.citizen.phone:
        return
    outbox.enqueue("citizen.notify", {"ticket_id": ticket.pk, "template": template}, key=f"citizen.notify:{ticket.pk}:{template}:{key_suffix}")


def redirect_call(ticket: Ticket, line) -> None:
    """移交 of a phone ticket: the caller, if still on the line, is put through to ``line`` (telephony delivers it).
    A ticket is transferred once, so one message per ticket."""
    payload = {"ticket_id": ticket.pk, "line": line.code, "line_name": line.name, "number": line.phone}
    outbox.enqueue("call.transfer", payload, key=f"call.transfer:{ticket.pk}")


def deliver_group_push(message: OutboxMessage) -> dict:
    """Send one live update to its groups; a down Redis raises and the outbox retries.

    The WebSocket frame is encoded here, once: each open page's consumer only forwards it
    (``services.consumers.NotificationConsumer.ticket_changed``), and the channel layer
    carries it once per group (``hotline/channel_layer.py``)."""
    layer = get_channel_layer()
    payload = message.payload
    frame = json.dumps({"type": "ticket.changed", **payload["data"]})

    async def send_all() -> None:
        for name in payload["groups"]:
            await layer.group_send(name, {"type": "ticket.changed", "frame": frame})

    async_to_sync(send_all)()
    return {"groups": len(payload["groups"])}


outbox.register_handler("ws.group", deliver_group_push)
