"""进度查询: what a citizen may see of their own ticket, and what they may do with it.

A ticket is found only by its number together with the phone it was
registered with. A wrong number and a wrong phone give the same answer and
take the same path (the phone digests are always computed and compared in
constant time), so the answer tells a guesser nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime

from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from routing import actions, selectors, transitions
from routing.models import Ticket, TicketEvent, phone_digest
from routing.roles import citizen_actor
from routing.states import EventKind, State

# Never equal to a hex digest, so a missing ticket costs the same compare as a wrong phone.
_NO_MATCH = "-" * 64
ACCESS_SALT = "services.public.tracking.access"
ACCESS_MAX_AGE = 30 * 60

REPLY_VISIBLE = frozenset({State.REPLY_APPROVED, State.RATED, State.CLOSED})
WITHDRAWABLE = frozenset({State.REGISTERED, State.DISPATCHED, State.ACCEPTED, State.RETURN_REQUESTED})

# How the tracking page names each step: registration here, each public transition in its declaration (routing.machine).
STEP_LABELS = {EventKind.REGISTERED: gettext_lazy("已受理"), **transitions.citizen_labels()}
DEFAULT_STEP_LABEL = gettext_lazy("办理进展")


def find_ticket(number: str, phone: str) -> Ticket | None:
    """The ticket with this number whose citizen has this phone; None for any mismatch."""
    given = phone_digest(phone) if phone else ""
    ticket = Ticket.objects.select_related("citizen", "category", "department").filter(number=(number or "").strip()).first()
    expected = _NO_MATCH
    if ticket is not None and ticket.citizen is not None and ticket.citizen.phone_digest:
        expected = ticket.citizen.phone_digest
    matches = hmac.compare_digest(given.encode() or b"?", expected.encode())
    return ticket if matches else None


@dataclass
class PublicStep:
    kind: str
    label: str
    at: datetime
    department: str | None = None


@dataclass
class PublicView:
    """A ticket as its citizen sees it: no internal notes, no staff, no other citizen."""

    number: str
    state: str
    state_label: str
    type_label: str
    category: str | None
    description: str
    registered_at: datetime
    steps: list[PublicStep] = field(default_factory=list)
    reply: str | None = None
    reply_label: str = ""
    can_rate: bool = False
    can_withdraw: bool = False

    def as_json(self) -> dict:
        return {
            "number": self.number,
            "state": self.state,
            "state_label": self.state_label,
            "type_label": self.type_label,
            "category": self.category,
            "description": self.description,
            "registered_at": _iso(self.registered_at),
            "timeline": [{"kind": s.kind, "label": s.label, "created_at": _iso(s.at), "department": s.department} for s in self.steps],
            "reply": {"label": self.reply_label, "text": self.reply} if self.reply else None,
            "can_rate": self.can_rate,
            "can_withdraw": self.can_withdraw,
        }


def _iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


def _step(event: TicketEvent) -> PublicStep:
    department = event.department.name if event.kind == EventKind.DISPATCHED and event.department is not None else None
    label = str(STEP_LABELS.get(event.kind, DEFAULT_STEP_LABEL))
    if department:
        label = _("已派至%(department)s办理") % {"department": department}
    elif event.kind == EventKind.TRANSFERRED and isinstance(event.data, dict) and event.data.get("line_name"):
        label = _("已移交%(line)s处理") % {"line": event.data["line_name"]}
    return PublicStep(kind=event.kind, label=label, at=event.created_at, department=department)


def public_view(ticket: Ticket) -> PublicView:
    """The citizen's view of ``ticket``: public events only, and the reply once it is approved."""
    view = PublicView(
        number=ticket.number,
        state=ticket.state,
        state_label=str(ticket.get_state_display()),
        type_label=str(ticket.get_type_display()),
        category=ticket.category.name if ticket.category_id else None,
        description=ticket.description,
        registered_at=ticket.registered_at,
        steps=[_step(e) for e in selectors.public_timeline(ticket)],
        can_rate=ticket.state == State.REPLY_APPROVED,
        can_withdraw=ticket.state in WITHDRAWABLE,
    )
    if ticket.state in REPLY_VISIBLE and ticket.reply_text:
        view.reply, view.reply_label = ticket.reply_text, _("答复内容")
    elif ticket.state == State.CLOSED and ticket.resolution:
        view.reply, view.reply_label = ticket.resolution, _("答复内容")
    elif ticket.state == State.DECLINED and ticket.decline_reason:
        view.reply, view.reply_label = ticket.decline_reason, _("不予受理原因")
    return view


# --- what the citizen may do, once found -----------------------------------------
def access_token(ticket: Ticket) -> str:
    """A short-lived proof that this browser found ``ticket`` with its number and phone."""
    return signing.dumps({"t": ticket.pk, "d": ticket.citizen.phone_digest[:24]}, salt=ACCESS_SALT)


def ticket_for_access(token: str) -> Ticket | None:
    """The ticket an access token was issued for, while it is fresh and the phone still matches."""
    try:
        data = signing.loads(token or "", salt=ACCESS_SALT, max_age=ACCESS_MAX_AGE)
    except signing.BadSignature:
        return None
    ticket = Ticket.objects.select_related("citizen", "category", "department").filter(pk=data.get("t")).first()
    if ticket is None or ticket.citizen is None or not ticket.citizen.phone_digest:
        return None
    if not hmac.compare_digest(ticket.citizen.phone_digest[:24].encode(), str(data.get("d", "")).encode()):
        return None
    return ticket


def rate(ticket: Ticket, *, solved: bool, satisfaction: str, comment: str = "") -> Ticket:
    """评价: the citizen's own callback; not satisfied sends the ticket back to the department (重办)."""
    return actions.citizen_rating(ticket, satisfaction=satisfaction, solved=solved, reason=comment, by=citizen_actor(ticket.citizen))


def withdraw(ticket: Ticket, *, reason: str = "") -> Ticket:
    """撤单 by the citizen, only before the reply."""
    return actions.withdraw_ticket(ticket, by=citizen_actor(ticket.citizen), reason=reason)
