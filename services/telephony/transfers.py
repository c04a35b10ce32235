"""移交来电: a phone ticket transferred to 110/119/120/122 has its live call put through to the line.

``routing.actions.transfer_ticket`` writes an outbox row ``call.transfer`` (ticket, line code, line
name, the number to dial) in the transfer's own transaction; ``deliver`` here redirects the call with
``twilio.rest.Client``: ``calls(sid).update(twiml=…)`` with a ``<Say>`` and a ``<Dial>`` of the line's
number. A down Twilio (5xx, 429, no connection) raises and the outbox retries; a call that has ended
or that Twilio no longer has is skipped with the reason. A redirect that happened is on the ticket's
timeline (``ticket.call_transferred``), which is also what makes a retry after a crash send nothing again.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import Dial, VoiceResponse

from routing import actions, outbox
from routing.models import OutboxMessage, Ticket, TicketEvent
from routing.roles import SYSTEM
from routing.states import Channel, EventKind
from services.telephony import conf, twiml
from services.telephony.http import rest_client
from services.telephony.models import CallRecord

OUTBOX_KIND = "call.transfer"
EVENT_KIND = EventKind.CALL_TRANSFERRED
CALL_SID = re.compile(r"(?<![0-9A-Za-z])(CA[0-9a-fA-F]{32})(?![0-9A-Za-z])")
DIAL_TIMEOUT = 30  # seconds the line rings before the caller hears that it did not answer


def call_sid_of(ticket: Ticket) -> str:
    """The CallSid of the call a phone ticket came from: its call record, or its channel id
    (``CA…`` as an integrator sends it, ``call:CA…`` of a voice message, ``console:CA…:<token>`` of the console)."""
    recorded = CallRecord.objects.filter(ticket=ticket).order_by("-created_at").values_list("call_sid", flat=True).first()
    if recorded:
        return recorded
    match = CALL_SID.search(ticket.channel_ref or "")
    return match.group(1) if match else ""


def transfer_twiml(*, line_name: str, number: str) -> VoiceResponse:
    """What the caller hears and where the call goes: a short notice, then ``<Dial>`` of the line."""
    with translation.override(settings.LANGUAGE_CODE):
        response = VoiceResponse()
        twiml.say(response, _("您反映的情况由%(line)s处理，正在为您转接，请不要挂机。") % {"line": line_name})
        dial = Dial(timeout=DIAL_TIMEOUT, caller_id=settings.TWILIO_PHONE_NUMBER or None)
        dial.number(number)
        response.append(dial)
        twiml.say(response, _("转接未成功，请您直接拨打%(number)s。") % {"number": number})
    return response


def deliver(message: OutboxMessage) -> dict:
    """Outbox handler for ``call.transfer``: put the caller through to the line, once."""
    if not conf.telephony_enabled():
        raise outbox.Skip("telephony is off (no Twilio credentials)")
    payload = message.payload
    ticket = Ticket.objects.filter(pk=payload.get("ticket_id")).first()
    if ticket is None:
        raise outbox.Skip("ticket not found")
    if ticket.channel != Channel.PHONE:
        raise outbox.Skip("not a phone ticket")
    if TicketEvent.objects.filter(ticket=ticket, kind=EVENT_KIND).exists():
        return {"already_redirected": True}
    sid = call_sid_of(ticket)
    if not sid:
        raise outbox.Skip("no call is known for this ticket")
    record = CallRecord.objects.filter(call_sid=sid).first()
    if record is not None and record.status in CallRecord.Status.final():
        raise outbox.Skip(f"call {sid} has ended ({record.status})")
    number, line_name = str(payload.get("number") or ""), str(payload.get("line_name") or payload.get("line") or "")
    if not number:
        raise outbox.Skip("the line has no number to dial")
    document = str(transfer_twiml(line_name=line_name, number=number))
    try:
        call = rest_client().calls(sid).update(twiml=document)
    except TwilioRestException as exc:
        if exc.status == 429 or exc.status >= 500:
            raise  # Twilio is busy or down: the outbox retries
        # 404: Twilio has no such call; 400 (21220): the call is no longer in progress. Neither will change.
        raise outbox.Skip(f"Twilio refused the redirect of {sid}: {exc.status} {exc.code} {exc.msg}") from exc
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        actions.add_note(
            ticket,
            kind=EVENT_KIND,
            text=_("来电已转接至%(line)s（%(number)s），通话 %(sid)s") % {"line": line_name, "number": number, "sid": sid},
            by=SYSTEM,
        )
    return {"call_sid": sid, "number": number, "status": getattr(call, "status", None)}
