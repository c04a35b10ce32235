"""A call's life on our side: its record, its voice message turned into a ticket, its end.

Twilio retries webhooks and may deliver callbacks out of order; every
function here is idempotent. The ``CallRecord`` row (unique CallSid) is
locked while a call's state changes, and the voice message's ticket is
registered with ``channel_ref=call:<CallSid>``, so no retry makes a second
record, ticket or note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import actions
from routing.errors import InvalidInput
from routing.intake import IntakeRequest, register_ticket
from routing.models import Citizen, Ticket, User, normalize_phone, phone_digest
from routing.roles import HOTLINE_ROLES, SYSTEM
from routing.states import Channel, EventKind, TicketType
from services.telephony import callbacks
from services.telephony.models import CallRecord

SID_PATTERN = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def sid(params: Mapping, name: str, *, required: bool = True) -> str:
    """A Twilio SID parameter (two letters and 32 hex digits); a missing or malformed one is a 400."""
    value = (params.get(name) or "").strip()
    if not value and not required:
        return ""
    if not SID_PATTERN.match(value):
        raise InvalidInput(_("缺少或无效的参数 %(name)s") % {"name": name}, details={name: [_("格式不正确")]})
    return value


def whole_seconds(value) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def caller_digest(number: str) -> str:
    """The digest of a caller's number, or '' for a withheld / non-phone caller ('anonymous', 'client:…')."""
    return phone_digest(number) if normalize_phone(number) else ""


def find_citizen(digest: str) -> Citizen | None:
    return Citizen.objects.filter(phone_digest=digest).first() if digest else None


def ensure_call(params: Mapping) -> CallRecord:
    """The record of this CallSid, created on first sight from the request's call fields."""
    call_sid = sid(params, "CallSid")
    from_number = (params.get("From") or "").strip()[:64]
    digest = caller_digest(from_number)
    call, _created = CallRecord.objects.get_or_create(
        call_sid=call_sid,
        defaults={
            "from_number": from_number,
            "from_digest": digest,
            "to_number": (params.get("To") or "").strip()[:64],
            "direction": (params.get("Direction") or "").strip()[:32],
            "status": _known_status(params.get("CallStatus")),
            "citizen": find_citizen(digest),
        },
    )
    return call


def _known_status(value) -> str:
    value = (value or "").strip()
    return value if value in CallRecord.Status.values else ""


def _locked(call: CallRecord) -> CallRecord:
    return CallRecord.objects.select_for_update().get(pk=call.pk)


def choose(params: Mapping, choice: str) -> CallRecord:
    """Remember the caller's menu choice (1 咨询, 2 求助/投诉/举报, 3 查询, 0 人工)."""
    call = ensure_call(params)
    if choice in CallRecord.Menu.values and call.menu_choice != choice:
        CallRecord.objects.filter(pk=call.pk).update(menu_choice=choice, updated_at=timezone.now())
        call.menu_choice = choice
    return call


def update_status(params: Mapping) -> CallRecord:
    """Call status callback: status and duration. A late, non-final status never overwrites a final one."""
    call = ensure_call(params)
    new_status = _known_status(params.get("CallStatus"))
    duration = whole_seconds(params.get("CallDuration"))
    with transaction.atomic():
        call = _locked(call)
        if new_status and not (call.status in CallRecord.Status.final() and new_status not in CallRecord.Status.final()):
            call.status = new_status
        if duration is not None:
            call.duration = duration
        call.save(update_fields=["status", "duration", "updated_at"])
        callbacks.note_if_missed(call)
    return call


def queue_left(params: Mapping) -> CallRecord:
    """The caller left the queue (Enqueue action): keep the time spent waiting."""
    call = ensure_call(params)
    queue_time = whole_seconds(params.get("QueueTime"))
    with transaction.atomic():
        call = _locked(call)
        if queue_time is not None and call.queue_time is None:
            CallRecord.objects.filter(pk=call.pk).update(queue_time=queue_time, updated_at=timezone.now())
            call.queue_time = queue_time
        callbacks.note_if_missed(call)  # when the final status came first
    return call


# --- voice messages ---------------------------------------------------------------
def _ticket_type(call: CallRecord) -> str:
    return TicketType.INQUIRY if call.menu_choice == CallRecord.Menu.INQUIRY else TicketType.HELP


def register_voicemail(params: Mapping) -> Ticket | None:
    """A recorded voice message becomes a ticket (受理), once per call.

    Called from the ``<Record>`` action and from the recording status
    callback, whichever comes first: a caller who hangs up while recording
    still leaves a ticket. A recording of zero seconds makes none.
    """
    call = ensure_call(params)
    recording_sid = sid(params, "RecordingSid", required=False)
    recording_url = (params.get("RecordingUrl") or "").strip()[:500]
    duration = whole_seconds(params.get("RecordingDuration"))
    with transaction.atomic():
        call = _locked(call)
        if recording_sid and not call.recording_sid:
            call.recording_sid = recording_sid
        if recording_url and (not call.recording_url or call.recording_sid == recording_sid):
            call.recording_url = recording_url
        if duration is not None and call.recording_duration is None:
            call.recording_duration = duration
        if call.ticket_id is None and call.recording_sid and (call.recording_duration or 0) > 0:
            _create_ticket(call)
        call.save()
    return call.ticket


def _create_ticket(call: CallRecord) -> None:
    type_label = TicketType(_ticket_type(call)).label
    result = register_ticket(
        IntakeRequest(
            channel=Channel.PHONE,
            channel_ref=f"call:{call.call_sid}",
            type=_ticket_type(call),
            title=_("电话留言（%(type)s）") % {"type": type_label},
            # Descriptions are the citizen's own words; the recording and its
            # transcription are on the timeline and the call record.
            description=_("市民来电留言，录音时长 %(seconds)d 秒。留言内容见录音及转写记录。") % {"seconds": call.recording_duration or 0},
            citizen_phone=call.from_number if call.from_digest else "",
            anonymous=not call.from_digest,
        ),
        by=SYSTEM,
    )
    ticket = result.ticket
    call.ticket = ticket
    call.citizen_id = ticket.citizen_id or call.citizen_id
    callbacks.close_for_ticket(call)
    if result.created:
        actions.add_note(
            ticket,
            kind=EventKind.VOICEMAIL,
            text=_("来电留言录音：%(url)s（%(seconds)d 秒，通话 %(sid)s）")
            % {"url": call.recording_url or "-", "seconds": call.recording_duration or 0, "sid": call.call_sid},
            by=SYSTEM,
        )
    _note_transcription(call)


def _note_transcription(call: CallRecord) -> None:
    """Put the transcription on the ticket's timeline once both exist (either may arrive first)."""
    if call.ticket_id and call.transcription_text and not call.transcription_noted:
        actions.add_note(call.ticket, kind=EventKind.TRANSCRIPTION, text=_("留言转写：%(text)s") % {"text": call.transcription_text}, by=SYSTEM)
        call.transcription_noted = True


def recording_status(params: Mapping) -> CallRecord:
    """Recording status callback: keep the status; a completed recording makes the ticket if the action did not."""
    status = (params.get("RecordingStatus") or "").strip()[:16]
    if status == "completed":
        register_voicemail(params)
    call = ensure_call(params)
    recording_sid = sid(params, "RecordingSid", required=False)
    with transaction.atomic():
        call = _locked(call)
        if not call.recording_sid or call.recording_sid == recording_sid:
            call.recording_status = status
            if not call.recording_sid:
                call.recording_sid = recording_sid
        call.save()
    return call


def add_transcription(params: Mapping) -> CallRecord:
    """Transcription callback: the text is kept on the call and added to the ticket as a note, once."""
    transcription_sid = sid(params, "TranscriptionSid")
    recording_sid = sid(params, "RecordingSid", required=False)
    status = (params.get("TranscriptionStatus") or "").strip()[:16]
    text = (params.get("TranscriptionText") or "").strip()[:8000]
    call = None
    if params.get("CallSid"):
        call = ensure_call(params)
    elif recording_sid:
        call = CallRecord.objects.filter(recording_sid=recording_sid).first()
    if call is None:
        raise InvalidInput(_("未知的通话"), details={"CallSid": [_("缺少通话标识")]})
    with transaction.atomic():
        call = _locked(call)
        if call.transcription_sid in ("", transcription_sid):
            call.transcription_sid = transcription_sid
            call.transcription_status = status
            if status == "completed" and text:
                call.transcription_text = text
            _note_transcription(call)
        call.save()
    return call


# --- agents -------------------------------------------------------------------------
def agent_from_identity(identity: str) -> User | None:
    """``client:<username>`` (the From of an agent's Twilio Client leg) → an active hotline staff user."""
    identity = (identity or "").strip()
    if not identity.startswith("client:"):
        return None
    username = identity[len("client:") :]
    if not username:
        return None
    return User.objects.filter(username=username, is_active=True, role__in=HOTLINE_ROLES).first()


def bridge(params: Mapping, *, agent: User) -> tuple[CallRecord, bool]:
    """A queued caller is being connected to ``agent``; returns (record, first time for this agent)."""
    call = ensure_call(params)
    queue_time = whole_seconds(params.get("QueueTime"))
    with transaction.atomic():
        call = _locked(call)
        first = not (call.answered and call.agent_id == agent.pk)
        call.answered = True
        call.answered_at = call.answered_at or timezone.now()
        call.agent = agent
        if queue_time is not None:
            call.queue_time = queue_time
        if call.status not in CallRecord.Status.final():
            call.status = CallRecord.Status.IN_PROGRESS
        if call.citizen_id is None:
            call.citizen = find_citizen(call.from_digest)
        call.save()
    return call, first
