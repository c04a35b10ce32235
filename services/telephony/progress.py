"""What a citizen is told about a ticket on the phone channels: found by number and phone.

A ticket is shown only to the phone that registered it, and a wrong number
and a wrong phone get the same "not found" — the same rule as the web
tracking page, so the phone channels are no way around it.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from routing.models import Ticket, phone_digest
from routing.states import State

# 20261122-000123, with or without the dash (the keypad has none).
NUMBER_PATTERN = re.compile(r"(?<!\d)(\d{8})-?(\d{6})(?!\d)")


def find_number(text: str) -> str | None:
    """The first ticket number in ``text``, normalized to ``YYYYMMDD-NNNNNN``."""
    match = NUMBER_PATTERN.search(text or "")
    return f"{match.group(1)}-{match.group(2)}" if match else None


def number_from_digits(digits: str) -> str | None:
    """Keypad digits (exactly 14) → a ticket number, or None."""
    digits = (digits or "").strip().rstrip("#")
    if not re.fullmatch(r"\d{14}", digits):
        return None
    return f"{digits[:8]}-{digits[8:]}"


def ticket_for_phone(number: str, phone: str) -> Ticket | None:
    """The ticket ``number`` if its citizen's phone is ``phone``; None otherwise (no difference told)."""
    if not number or not phone:
        return None
    return Ticket.objects.filter(number=number, citizen__phone_digest=phone_digest(phone)).select_related("citizen").first()


def describe_state(ticket: Ticket) -> str:
    """The ticket's progress in words for the citizen (internal steps such as a return are not told)."""
    phrases = {
        State.REGISTERED: _("已受理，正在分派承办单位"),
        State.DISPATCHED: _("已派发至承办单位，等待签收"),
        State.ACCEPTED: _("承办单位正在办理"),
        State.RETURN_REQUESTED: _("承办单位正在办理"),
        State.REPLIED: _("承办单位已答复，正在审核"),
        State.REPLY_APPROVED: _("已答复，等待您的评价"),
        State.RATED: _("已回访"),
        State.CLOSED: _("已办结"),
        State.DECLINED: _("不予受理"),
        State.WITHDRAWN: _("已撤单"),
        State.MERGED: _("已与相同诉求合并办理"),
        State.TRANSFERRED: _("已移交%(line)s处理") % {"line": ticket.transferred_to.name} if ticket.transferred_to_id else _("已移交"),
    }
    return phrases.get(ticket.state, ticket.get_state_display())


def tracking_url(number: str) -> str:
    """The public tracking page of a ticket, as sent by SMS."""
    return f"{settings.PUBLIC_BASE_URL}/track/?{urlencode({'number': number})}"
