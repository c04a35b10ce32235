"""漏接回拨: every call that ended without reaching an agent is called back, within a deadline.

GB/T 33358 and the 2025 12345 guidance ask that an abandoned or unanswered call
is not lost. A call is *missed* when it ended (a final status) without an agent
having answered it, came in from a number we can call, left no voice message
(a message is a ticket, and the ticket is followed up its own way) and the caller
either wanted a person (menu 0, or they waited in the queue) or never got through
at all (busy, no answer, failed, canceled). It then gets ``callback_due_at`` =
its end + ``settings.MISSED_CALL_CALLBACK_MINUTES`` and appears in the agents'
queue (``due()``), most urgent first, until an agent records the result
(``record``): reached, not reached, or not needed. A voice message that turns up
after the call ended closes the callback as not needed.

Demo citizens are never called back (``Citizen.demo``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from routing.errors import InvalidInput, NotAllowed, NotFound, TransitionConflict
from routing.roles import HOTLINE_ROLES
from services.telephony.models import CallRecord

NEVER_CONNECTED = frozenset({CallRecord.Status.BUSY, CallRecord.Status.NO_ANSWER, CallRecord.Status.FAILED, CallRecord.Status.CANCELED})
Result = CallRecord.CallbackResult


def is_missed(call: CallRecord) -> bool:
    """Whether ``call`` ended unanswered in a way that calls for a call back (the module's rule)."""
    if call.status not in CallRecord.Status.final() or call.answered or call.ticket_id or not call.from_digest:
        return False
    if not call.direction.startswith("inbound"):
        return False
    if call.citizen_id and call.citizen.demo:
        return False
    wanted_a_person = call.menu_choice == CallRecord.Menu.AGENT or call.queue_time is not None
    return wanted_a_person or call.status in NEVER_CONNECTED


def note_if_missed(call: CallRecord, *, now: dt.datetime | None = None) -> bool:
    """Give a missed call its callback deadline, once. The caller holds the row's lock. True when it did now."""
    if call.callback_due_at is not None or not is_missed(call):
        return False
    now = now or timezone.now()
    call.callback_due_at = now + dt.timedelta(minutes=settings.MISSED_CALL_CALLBACK_MINUTES)
    CallRecord.objects.filter(pk=call.pk, callback_due_at__isnull=True).update(callback_due_at=call.callback_due_at, updated_at=now)
    return True


def close_for_ticket(call: CallRecord) -> None:
    """The call left a voice message after all: its callback is not needed (the ticket follows it up)."""
    if call.callback_due_at is not None and call.callback_done_at is None and call.ticket_id:
        call.callback_done_at = timezone.now()
        call.callback_result = Result.NOT_NEEDED
        call.callback_note = _("来电留言已登记为工单 %(number)s") % {"number": call.ticket.number}


def due():
    """The missed calls still to call back, the earliest deadline first."""
    return (
        CallRecord.objects.filter(callback_due_at__isnull=False, callback_done_at__isnull=True)
        .select_related("citizen")
        .order_by("callback_due_at", "id")
    )


def may_call_back(user) -> bool:
    return getattr(user, "role", "") in HOTLINE_ROLES


def check_may_call_back(user) -> None:
    """403 for anyone but the hotline's roles."""
    if not may_call_back(user):
        raise NotAllowed(_("只有话务员、派单员和督办可以回拨漏接来电"))


def record(call_sid: str, *, result: str, note: str = "", by) -> CallRecord:
    """An agent's call back: its result (and a note), once. 403 for other roles, 404 unknown, 409 if already recorded."""
    check_may_call_back(by)
    if result not in Result.values:
        raise InvalidInput(_("回拨结果无效"), details={"result": [_("可选：%(values)s") % {"values": "、".join(Result.values)}]})
    note = (note or "").strip()
    if len(note) > 500:
        raise InvalidInput(_("说明最多 500 字"), details={"note": [_("说明过长")]})
    with transaction.atomic():
        call = CallRecord.objects.select_for_update().filter(call_sid=call_sid, callback_due_at__isnull=False).first()
        if call is None:
            raise NotFound(_("没有这个待回拨的来电"))
        if call.callback_done_at is not None:
            raise TransitionConflict(_("这个来电已经回拨过了"), code="already_called_back")
        call.callback_done_at = timezone.now()
        call.callback_by = by
        call.callback_result = result
        call.callback_note = note
        call.save(update_fields=["callback_done_at", "callback_by", "callback_result", "callback_note", "updated_at"])
    return call
