"""Reads: who sees which tickets, the work queues, the public timeline.

Every list here costs a constant number of queries (related rows are joined
or prefetched) and is served by an index on (department, state, due_at) or
(state, due_at).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from routing.models import Department, Ticket, TicketEvent, User
from routing.roles import HOTLINE_ROLES, Role
from routing.states import State


def with_related(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Join what a ticket list shows, so a page is a fixed number of queries."""
    return tickets.select_related("category", "area", "department", "parent_department", "citizen", "proposed_department", "proposed_rule").prefetch_related(
        Prefetch("assisting_departments", queryset=Department.objects.only("id", "code", "name"))
    )


def department_tickets(department_id: int) -> QuerySet[Ticket]:
    """Tickets a department works on: as lead, as the unit that sub-dispatched, or assisting."""
    assisting = Ticket.assisting_departments.through.objects.filter(ticket_id=OuterRef("pk"), department_id=department_id)
    return Ticket.objects.filter(Q(department_id=department_id) | Q(parent_department_id=department_id) | Exists(assisting))


def visible_tickets(user: User) -> QuerySet[Ticket]:
    """Every ticket ``user`` may see: all for the hotline roles, their department's for department staff."""
    if not getattr(user, "is_authenticated", False):
        return Ticket.objects.none()
    if user.role in HOTLINE_ROLES:
        return Ticket.objects.all()
    if user.role == Role.DEPARTMENT and user.department_id:
        return department_tickets(user.department_id)
    return Ticket.objects.none()


def can_see(user: User, ticket: Ticket) -> bool:
    return visible_tickets(user).filter(pk=ticket.pk).exists()


def dispatcher_queue() -> QuerySet[Ticket]:
    """派单员: new and returned tickets to dispatch, returns, extensions and replies to review."""
    return with_related(
        Ticket.objects.filter(
            Q(state__in=[State.REGISTERED, State.RETURN_REQUESTED, State.REPLIED]) | Q(state=State.ACCEPTED, extension_pending=True)
        )
    ).order_by("registered_at", "id")


def department_queue(department_id: int) -> QuerySet[Ticket]:
    """承办单位: dispatched and in-hand tickets, most urgent deadline first."""
    running = [State.DISPATCHED, State.ACCEPTED, State.RETURN_REQUESTED]
    return with_related(department_tickets(department_id).filter(state__in=running)).order_by("due_at", "id")


def callback_queue() -> QuerySet[Ticket]:
    """话务员: approved replies awaiting the callback, and rated tickets to close or reopen."""
    return with_related(Ticket.objects.filter(state__in=[State.REPLY_APPROVED, State.RATED])).order_by("replied_at", "id")


def overdue() -> QuerySet[Ticket]:
    """督办: running tickets past their deadline, the longest overdue first."""
    return with_related(Ticket.objects.filter(state__in=State.running(), due_at__lt=timezone.now())).order_by("due_at", "id")


def queue_for(user: User) -> QuerySet[Ticket]:
    """What ``user`` should work on next, ordered by deadline."""
    if user.role == Role.DISPATCHER:
        return dispatcher_queue()
    if user.role == Role.DEPARTMENT and user.department_id:
        return department_queue(user.department_id)
    if user.role == Role.SUPERVISOR:
        return overdue()
    if user.role == Role.AGENT:
        return callback_queue()
    return Ticket.objects.none()


def timeline(ticket: Ticket) -> QuerySet[TicketEvent]:
    return TicketEvent.objects.filter(ticket=ticket).select_related("actor", "department").order_by("created_at", "id")


# Steps that carry the citizen's own words or voice: on a confidential ticket department staff
# see that they happened, not what was said (a name or number said in a chat stays out).
CITIZEN_CONTENT_KINDS = frozenset({"ticket.chat_transcript", "ticket.voicemail", "ticket.transcription", "ticket.sms_media"})
WITHHELD = {"withheld": True}


def timeline_for(user: User, ticket: Ticket, events=None) -> list[TicketEvent]:
    """The timeline as ``user`` may see it. Department staff on a confidential ticket do not learn
    who looked at the citizen's contact, nor the citizen's own words; others see every step."""
    events = list(timeline(ticket) if events is None else events)
    if getattr(user, "role", "") != Role.DEPARTMENT or not ticket.confidential:
        return events
    shown = []
    for event in events:
        if event.kind == "ticket.contact_revealed":
            continue
        if event.kind in CITIZEN_CONTENT_KINDS:
            event.data = dict(WITHHELD)  # an in-memory copy for display; the row itself is immutable
        shown.append(event)
    return shown


def public_timeline(ticket: Ticket) -> QuerySet[TicketEvent]:
    """The steps a citizen sees: no internal notes, returns, urges or staff names."""
    return TicketEvent.objects.filter(ticket=ticket, public=True).select_related("department").order_by("created_at", "id")


def recent_tickets_of(citizen_id: int, *, limit: int = 5) -> list[Ticket]:
    return list(Ticket.objects.filter(citizen_id=citizen_id).select_related("category", "department").order_by("-registered_at")[:limit])
