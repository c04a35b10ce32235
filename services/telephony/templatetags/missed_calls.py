"""``{% load missed_calls %}``: the missed calls to call back, for the agent console's panel
(``telephony/partials/missed_calls.html``). The telephony room offers the tag, so the frontend's
templates use it without the frontend importing this room."""

from __future__ import annotations

from django import template
from django.utils import timezone

from services.telephony import callbacks

register = template.Library()
PANEL_LIMIT = 50


@register.simple_tag(takes_context=True)
def missed_calls(context):
    """(call, overdue) for the missed calls still to call back, if the signed-in user may call back."""
    request = context.get("request")
    if request is None or not callbacks.may_call_back(request.user):
        return []
    now = timezone.now()
    return [(call, call.callback_due_at < now) for call in callbacks.due()[:PANEL_LIMIT]]
