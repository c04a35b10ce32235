"""Voice messages played back to staff (收听录音), relayed from Twilio.

Twilio's recording media needs the account's credentials, and staff browsers
on the intranet must never be sent to twilio.com; so the browser asks us
(``/twilio/recordings/<ticket number>/<RecordingSid>.mp3``) and we fetch the
MP3 from Twilio and hand it on. A citizen's voice identifies them like their
phone number: who may hear it is ``routing.actions.may_identify`` (as for a contact reveal),
and every play is a ``ticket.recording_played`` event on the timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from routing import actions, selectors
from routing.models import Ticket, TicketEvent, User
from routing.roles import HOTLINE_ROLES, Role
from services.telephony import conf
from services.telephony.http import Media, fetch_media
from services.telephony.models import CallRecord

RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}.mp3"


@dataclass(frozen=True)
class Playable:
    """One voice message the user may play: our own URL, never Twilio's."""

    url: str
    seconds: int | None
    recording_sid: str


def may_play(user: User, ticket: Ticket) -> bool:
    """Hotline roles may; department staff only for a ticket they see, and as far as
    ``routing.actions.may_identify`` lets them (a confidential ticket's citizen)."""
    role = getattr(user, "role", "")
    if role in HOTLINE_ROLES:
        return True
    return role == Role.DEPARTMENT and selectors.can_see(user, ticket) and actions.may_identify(ticket, user)


def find(user: User, *, number: str, recording_sid: str) -> CallRecord | None:
    """The call of ticket ``number`` with that recording, if ``user`` may see the ticket; else None (a 404)."""
    if not RECORDING_SID.match(recording_sid or ""):
        return None
    call = CallRecord.objects.select_related("ticket").filter(ticket__number=number, recording_sid=recording_sid).first()
    if call is None or not selectors.can_see(user, call.ticket):
        return None
    return call


def media_url(recording_sid: str) -> str:
    """Twilio's MP3 of a recording of the configured account."""
    if not RECORDING_SID.match(recording_sid or ""):
        raise ValueError(f"not a recording sid: {recording_sid!r}")
    return MEDIA_URL.format(account=settings.TWILIO_ACCOUNT_SID, sid=recording_sid)


def play(call: CallRecord, *, by: User) -> tuple[Media, TicketEvent]:
    """Fetch the recording from Twilio and log the play (one event, only once the audio is here).

    Raises ``http.MediaError`` when Twilio does not deliver it, and
    ``routing.errors.NotAllowed`` when ``by`` may not hear it.
    """
    media = fetch_media(
        media_url(call.recording_sid),
        auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
        max_bytes=conf.get("TWILIO_RECORDING_MAX_BYTES"),
        accept="audio/mpeg",
    )
    event = actions.record_listened(call.ticket, recording=call.recording_sid, by=by)
    return media, event


def playable_for(ticket: Ticket, user: User) -> list[Playable]:
    """The ticket's voice messages ``user`` may play (none if they may not, or telephony is off)."""
    if not conf.telephony_enabled() or not may_play(user, ticket):
        return []
    calls = CallRecord.objects.filter(ticket=ticket).exclude(recording_sid="").order_by("created_at", "id")
    return [
        Playable(
            url=reverse("telephony-recording", kwargs={"number": ticket.number, "recording_sid": call.recording_sid}),
            seconds=call.recording_duration,
            recording_sid=call.recording_sid,
        )
        for call in calls
        if RECORDING_SID.match(call.recording_sid)
    ]
