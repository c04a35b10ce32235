"""弹屏: when a caller is connected to an agent, the agent's console shows who is calling.

The message goes to the agent's own channel-layer group (``routing.groups.user``)
as ``{"type": "notify", "event": "screen_pop", "data": {...}}``; the
``NotificationConsumer`` turns it into ``{"type": "screen_pop", ...}`` on the
agent's WebSocket.

It is pushed directly right after the database commit, not through the
outbox first: a screen pop is useful during the first seconds of the call,
and the outbox worker polls every ``WORKER_POLL_SECONDS`` behind whatever SMS
and index work is queued. When the push fails (Redis down), it goes to the
outbox as ``telephony.screen_pop`` and is retried while the call lasts; a pop
for a call that has ended is skipped, since it would only confuse the agent.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from routing import groups, outbox, selectors
from routing.models import Citizen, OutboxMessage, Ticket
from services.telephony.models import CallRecord

log = logging.getLogger(__name__)

OUTBOX_KIND = "telephony.screen_pop"
RECENT_TICKETS = 5


def payload(call: CallRecord) -> dict:
    """The caller's number, the citizen's profile and their latest tickets."""
    citizen: Citizen | None = call.citizen
    if citizen is None and call.from_digest:
        citizen = Citizen.objects.filter(phone_digest=call.from_digest).first()
    profile = None
    recent: list[dict] = []
    if citizen is not None:
        profile = {"id": citizen.pk, "name": citizen.name, "ticket_count": Ticket.objects.filter(citizen=citizen).count()}
        recent = [
            {
                "number": ticket.number,
                "state": ticket.state,
                "state_label": str(ticket.get_state_display()),
                "title": ticket.title,
                "registered_at": ticket.registered_at.isoformat(),
            }
            for ticket in selectors.recent_tickets_of(citizen.pk, limit=RECENT_TICKETS)
        ]
    return {"call_sid": call.call_sid, "caller": call.from_number, "citizen": profile, "recent_tickets": recent}


def send(call: CallRecord, agent_id: int) -> None:
    """Push one screen pop to the agent's group; raises when the channel layer is unreachable."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(groups.user(agent_id), {"type": "notify", "event": "screen_pop", "data": payload(call)})


def push_after_commit(call: CallRecord, agent_id: int) -> None:
    """Send the pop once the bridge is committed; fall back to the outbox when the push fails."""

    def push():
        try:
            send(CallRecord.objects.select_related("citizen").get(pk=call.pk), agent_id)
        except Exception as exc:  # a down channel layer must not lose the pop while the call lasts
            log.warning("screen pop for %s failed, queued in the outbox: %s", call.call_sid, exc)
            with transaction.atomic():
                outbox.enqueue(OUTBOX_KIND, {"call_id": call.pk, "agent_id": agent_id}, key=f"{OUTBOX_KIND}:{call.call_sid}:{agent_id}")

    transaction.on_commit(push)


def deliver(message: OutboxMessage) -> dict:
    """Outbox handler for ``telephony.screen_pop``: retried while the call is on, skipped after."""
    call = CallRecord.objects.select_related("citizen").filter(pk=message.payload.get("call_id")).first()
    if call is None:
        raise outbox.Skip("call record not found")
    if call.status in CallRecord.Status.final():
        raise outbox.Skip(f"call {call.call_sid} has ended ({call.status})")
    send(call, message.payload["agent_id"])
    return {"call_sid": call.call_sid}
