"""``{% load voicemail %}``: the voice messages of a ticket that the signed-in user may play (our
own playback URLs), for the ticket page. The telephony room offers the tag, so the frontend's
templates use it without the frontend importing this room (ARCHITECTURE: imports point to routing)."""

from __future__ import annotations

from django import template

from services.telephony import recordings

register = template.Library()


@register.simple_tag(takes_context=True)
def voicemail_recordings(context, ticket):
    """``services.telephony.recordings.Playable`` for each of ``ticket``'s voice messages the signed-in user may play."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return recordings.playable_for(ticket, request.user)
