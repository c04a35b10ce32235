"""What a workspace shows for one ticket: the ticket, the steps this user may take, contact, timeline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from routing import linkage, privacy, selectors
from routing.models import Ticket, TicketEvent, User
from routing.privacy import Contact
from routing.states import State

from frontend import actionforms, timeline


@dataclass
class Card:
    ticket: Ticket
    forms: list = field(default_factory=list)
    contact: Contact | None = None
    timeline: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    review: dict | None = None  # the reply's review (frontend.replyreview.view), on the dispatcher's replies


def contact_for(ticket: Ticket, user: User) -> Contact:
    """The citizen's contact as ``user`` may see it (``routing.privacy.contact_for``: the one rule)."""
    return privacy.contact_for(user, ticket)


def visible_events(ticket: Ticket, user: User, events):
    """What of the timeline ``user`` may see (routing.selectors.timeline_for)."""
    return selectors.timeline_for(user, ticket, events)


def build(tickets, user: User, *, with_timeline: bool = False, only: set[str] | None = None) -> list[Card]:
    """Cards for a list of tickets: forms and contact for each, in a fixed number of queries."""
    tickets = list(tickets)
    departments = actionforms.lead_departments()
    units = actionforms.units_of({t.department_id for t in tickets})
    catalogue = actionforms.catalogue_entries() if any(t.state in actionforms.CITING_STATES for t in tickets) else []
    lines = list(linkage.active_lines()) if any(t.state == State.REGISTERED for t in tickets) else []
    events = defaultdict(list)
    if with_timeline and tickets:
        for event in TicketEvent.objects.filter(ticket__in=tickets).select_related("actor", "department").order_by("created_at", "id"):
            events[event.ticket_id].append(event)
    cards = []
    for ticket in tickets:
        cards.append(
            Card(
                ticket=ticket,
                forms=actionforms.forms_for(ticket, user, only=only, departments=departments, units=units, catalogue=catalogue, lines=lines),
                contact=contact_for(ticket, user),
                timeline=timeline.rows(visible_events(ticket, user, events[ticket.pk]), user) if with_timeline else [],
            )
        )
    return cards
