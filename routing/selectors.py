"""Reads: who sees which tickets, the work queues, the public timeline.

Every list here costs a constant number of queries, whatever its length, and
reads a page without sorting the whole list:

* a department's tickets come from three places (lead, the unit that
  sub-dispatched, assisting). An ``OR`` of the three would keep PostgreSQL
  from using any index for the order, so a list of them is a ``TicketList`` of
  three parts, each read in order from its own index and merged in Python;
* each work queue filters with the very condition of its partial index
  (``routing.models.RUNNING``, ``DISPATCHER_WORK``, ``CALLBACK_WORK``), which
  holds only the tickets of that queue, already in the queue's order;
* a page first reads the (order key, id) pairs of its rows, then loads just
  those tickets with what a list shows (``with_related``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from routing import textsearch
from routing.models import CALLBACK_WORK, DISPATCHER_WORK, OPEN, RUNNING, SUPERVISED, Category, Department, Ticket, TicketEvent, User
from routing.roles import HOTLINE_ROLES, Role
from routing.states import EventKind, State


def with_related(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Join what a ticket list shows, so a page is a fixed number of queries."""
    return tickets.select_related("category", "area", "department", "parent_department", "citizen", "proposed_department", "proposed_rule", "transferred_to", "referred_from").prefetch_related(
        Prefetch("assisting_departments", queryset=Department.objects.only("id", "code", "name"))
    )


def _bounded(item, name: str) -> tuple[int, int]:
    """``(start, stop)`` of a list's slice ``[start:stop]``; the lists here are read in bounded slices only."""
    if item.step is not None or item.stop is None or (item.start or 0) < 0 or item.stop < 0:
        raise TypeError(f"a {name} is read in bounded slices, [start:stop]")
    return item.start or 0, item.stop


def _one(ticket_list, index: int) -> Ticket:
    page = ticket_list[index : index + 1]
    if not page:
        raise IndexError(index)
    return page[0]


class TicketList:
    """Tickets from one or more parts, in one order, countable and sliceable like a QuerySet
    (Django's ``Paginator`` and DRF's pagination take it as it is).

    A slice ``[start:stop]`` reads the first ``stop`` order keys of every part, each an
    ordered index scan with a ``LIMIT``, merges them, drops a ticket met in two parts, and
    loads the page's tickets with ``with_related``: ``len(parts) + 2`` queries. ``count()``
    counts the distinct ids of the parts in one query. ``order`` is all ascending or all
    descending and ends with ``id``, so every ticket has one place.
    """

    model = Ticket  # for tools that ask a list view for its model (drf-spectacular)

    def __init__(self, parts: Sequence[QuerySet[Ticket]], *, order: Sequence[str]):
        directions = {name.startswith("-") for name in order}
        if len(directions) != 1 or order[-1].lstrip("-") != "id":
            raise ValueError(f"order must be all ascending or all descending and end with id: {order!r}")
        self.parts = [part.order_by() for part in parts]
        self.descending = directions.pop()
        self.fields = [name.lstrip("-") for name in order]
        self.search_exact = True  # False: the list's words matched more tickets than it holds (``filtered_list``)

    def _ordering(self) -> list:
        # PostgreSQL's own NULL placement (last ascending, first descending), so a
        # btree index on the fields gives this order as it is; SQLite is told the same.
        if self.descending:
            return [F(name).desc(nulls_first=True) for name in self.fields]
        return [F(name).asc(nulls_last=True) for name in self.fields]

    @staticmethod
    def _key(row: tuple) -> tuple:
        return tuple(item for value in row for item in (value is None, value))

    def _ids(self, stop: int) -> Iterator[int]:
        heads = [part.order_by(*self._ordering()).values_list(*self.fields)[:stop] for part in self.parts]
        seen: set[int] = set()
        for row in heapq.merge(*heads, key=self._key, reverse=self.descending):
            if row[-1] not in seen:
                seen.add(row[-1])
                yield row[-1]

    def __getitem__(self, item):
        if isinstance(item, int):
            return _one(self, item)
        start, stop = _bounded(item, "TicketList")
        if stop <= start:
            return []
        ids = list(self._ids(stop))[start:stop]
        rows = with_related(Ticket.objects.filter(pk__in=ids)).in_bulk()
        return [rows[pk] for pk in ids if pk in rows]

    def count(self) -> int:
        if len(self.parts) == 1:
            return self.parts[0].count()
        ids = [part.values("pk") for part in self.parts]
        return ids[0].union(*ids[1:]).count()

    def totals(self, **conditions: Q) -> dict[str, int]:
        """``{"total": …, name: …}``: how many tickets the list holds and how many of them meet
        each condition, in one query that reads every part from its own index (a ticket met in
        two parts counts once)."""
        flags = {name: Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField()) for name, condition in conditions.items()}
        rows = [part.annotate(**flags).values("pk", *flags) for part in self.parts]
        listed = rows[0].union(*rows[1:]) if len(rows) > 1 else rows[0]
        try:
            sql, params = listed.query.sql_with_params()
        except EmptyResultSet:  # every part is .none()
            return dict.fromkeys(["total", *flags], 0)
        connection = connections[listed.db]
        sums = "".join(f", COALESCE(SUM({connection.ops.quote_name(name)}), 0)" for name in flags)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*){sums} FROM ({sql}) AS listed", params)
            row = cursor.fetchone()
        return dict(zip(["total", *flags], (int(value) for value in row)))

    def filter(self, *args, **kwargs) -> TicketList:
        narrowed = TicketList([part.filter(*args, **kwargs) for part in self.parts], order=self._order())
        narrowed.search_exact = self.search_exact
        return narrowed

    def iterator(self, *, chunk_size: int = 1000) -> Iterator[Ticket]:
        """Every ticket of the list in its order, read in chunks (a whole list, e.g. an export, without paging)."""
        union = Q()
        for part in self.parts:
            union |= Q(pk__in=part.values("pk"))
        yield from with_related(Ticket.objects.filter(union)).order_by(*self._ordering()).iterator(chunk_size=chunk_size)

    def _order(self) -> list[str]:
        return [("-" if self.descending else "") + name for name in self.fields]


def department_tickets(department_id: int) -> QuerySet[Ticket]:
    """Tickets a department works on: as lead, as the unit that sub-dispatched, or assisting.
    One QuerySet, for finding a ticket by its number; lists use ``department_parts``."""
    assisting = Ticket.assisting_departments.through.objects.filter(ticket_id=OuterRef("pk"), department_id=department_id)
    return Ticket.objects.filter(Q(department_id=department_id) | Q(parent_department_id=department_id) | Exists(assisting))


def department_parts(department_id: int) -> list[QuerySet[Ticket]]:
    """The same tickets as ``department_tickets``, as three parts that each have an index."""
    return [
        Ticket.objects.filter(department_id=department_id),
        Ticket.objects.filter(parent_department_id=department_id),
        Ticket.objects.filter(assisting_departments__id=department_id),
    ]


def visible_tickets(user: User) -> QuerySet[Ticket]:
    """Every ticket ``user`` may see: all for the hotline roles, their department's for department staff."""
    if not getattr(user, "is_authenticated", False):
        return Ticket.objects.none()
    if user.role in HOTLINE_ROLES:
        return Ticket.objects.all()
    if user.role == Role.DEPARTMENT and user.department_id:
        return department_tickets(user.department_id)
    return Ticket.objects.none()


def visible_list(user: User, *, order: Sequence[str] = ("-registered_at", "-id")) -> TicketList:
    """The tickets ``user`` may see, as a list to filter and page through (newest first)."""
    if getattr(user, "is_authenticated", False) and user.role == Role.DEPARTMENT and user.department_id:
        return TicketList(department_parts(user.department_id), order=order)
    return TicketList([visible_tickets(user)], order=order)


class SearchedList:
    """The ticket list's words when every other filter is one the engine has (state, category, who may see):
    paged in the engine, newest first, like a ``TicketList`` for the paginators.

    ``count()`` is the engine's, up to ``textsearch.COUNT_LIMIT`` (``search_exact`` False beyond: the pages
    end there); a slice is one engine query for that page's ids and one database read of those tickets,
    re-checked against what ``user`` may see and the states asked for (an index a moment behind never
    shows a ticket it should not)."""

    model = Ticket

    def __init__(self, user: User, text: str, *, states: list[str] | None, category_id: int | None):
        self.user, self.text, self.states, self.category_id = user, text, states, category_id
        self._total: int | None = None
        self.search_exact = True

    def _find(self, *, offset: int, limit: int) -> textsearch.Found:
        found = textsearch.find(self.user, self.text, states=self.states, category_id=self.category_id, limit=limit, offset=offset, count_up_to=textsearch.COUNT_LIMIT)
        self._total, self.search_exact = found.total, found.exact
        return found

    def count(self) -> int:
        if self._total is None:
            self._find(offset=0, limit=0)
        return self._total

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if isinstance(item, int):
            return _one(self, item)
        start, stop = _bounded(item, "SearchedList")
        stop = min(stop, textsearch.COUNT_LIMIT)
        if stop <= start:
            return []
        ids = self._find(offset=start, limit=stop - start).ids
        tickets = visible_tickets(self.user).filter(pk__in=ids)
        if self.states is not None:
            tickets = tickets.filter(state__in=self.states)
        rows = with_related(tickets).in_bulk()
        return [rows[pk] for pk in ids if pk in rows]


# Filters the search engine does not have: with one of them, the words' matches are intersected in the database.
DATABASE_ONLY_FILTERS = ("department", "overdue", "external_id", "referred_from", "transferred_to")


def filtered_list(user: User, params, *, search_limit: int = textsearch.LIST_LIMIT, paged_by_engine: bool = True) -> TicketList | SearchedList:
    """The ticket list's filters (``state``, ``department``, ``category``, ``overdue``, ``external_id``,
    ``referred_from``, ``transferred_to``, ``q``)
    applied to what ``user`` may see: one rule for the API's list, its export and the pages. Unknown values
    filter nothing or match nothing, never fail. ``q`` goes through the search engine (``routing.textsearch``):
    the list then holds the newest ``search_limit`` matches that pass the other filters, and its
    ``search_exact`` is False when more tickets matched. When no other filter needs the database (and
    ``paged_by_engine``, as for the API's list and the pages; an export reads a whole list), the list is
    a ``SearchedList`` paged in the engine."""
    tickets = visible_list(user)
    states = None
    if state := params.get("state"):
        states = [v for v in state.split(",") if v in State.values]
        tickets = tickets.filter(state__in=states)
    if department := params.get("department"):
        match = Q(department__code=department)
        if department.isdigit():
            match |= Q(department_id=int(department))
        tickets = tickets.filter(match)
    category_id = None
    if (category := params.get("category")) and category.isdigit():
        node = Category.objects.filter(pk=int(category)).first()
        tickets = tickets.filter(category__path__startswith=node.path) if node else tickets.filter(pk__in=[])
        category_id = node.pk if node else -1  # no such category: the engine matches nothing either
    if params.get("overdue") in {"true", "1"}:
        tickets = tickets.filter(state__in=State.running(), due_at__lt=timezone.now())
    if external_id := params.get("external_id", "").strip()[:64]:
        tickets = tickets.filter(external_id=external_id)
    if referred_from := params.get("referred_from", "").strip()[:8]:
        tickets = tickets.filter(referred_from__code=referred_from)
    if transferred_to := params.get("transferred_to", "").strip()[:8]:
        tickets = tickets.filter(transferred_to__code=transferred_to)
    q = params.get("q", "").strip()[:200]
    if q and paged_by_engine and not any(_given(params, name) for name in DATABASE_ONLY_FILTERS):
        return SearchedList(user, q, states=states, category_id=category_id)
    if q:
        # The state and category go to the engine too, so that its limit cuts among the tickets the list shows.
        found = textsearch.find(user, q, states=states, category_id=category_id, limit=search_limit)
        tickets = tickets.filter(pk__in=found.ids)
        tickets.search_exact = found.exact
    return tickets


def _given(params, name: str) -> bool:
    value = params.get(name)
    if name == "overdue":
        return value in {"true", "1"}
    return bool(str(value or "").strip())


def can_see(user: User, ticket: Ticket) -> bool:
    return visible_tickets(user).filter(pk=ticket.pk).exists()


def dispatcher_queue() -> TicketList:
    """派单员: new and returned tickets to dispatch, returns, extensions and replies to review, oldest first."""
    return TicketList([Ticket.objects.filter(DISPATCHER_WORK)], order=("registered_at", "id"))


def department_queue(department_id: int) -> TicketList:
    """承办单位: dispatched and in-hand tickets, most urgent deadline first."""
    return TicketList([part.filter(RUNNING) for part in department_parts(department_id)], order=("due_at", "id"))


def callback_queue() -> TicketList:
    """话务员: approved replies awaiting the callback, and rated tickets to close or reopen."""
    return TicketList([Ticket.objects.filter(CALLBACK_WORK)], order=("replied_at", "id"))


def overdue() -> TicketList:
    """督办: running tickets past their deadline, the longest overdue first."""
    return TicketList([Ticket.objects.filter(RUNNING, due_at__lt=timezone.now())], order=("due_at", "id"))


def queue_for(user: User) -> TicketList:
    """What ``user`` should work on next, ordered by deadline."""
    if user.role == Role.DISPATCHER:
        return dispatcher_queue()
    if user.role == Role.DEPARTMENT and user.department_id:
        return department_queue(user.department_id)
    if user.role == Role.SUPERVISOR:
        return overdue()
    if user.role == Role.AGENT:
        return callback_queue()
    return TicketList([Ticket.objects.none()], order=("id",))


def timeline(ticket: Ticket) -> QuerySet[TicketEvent]:
    return TicketEvent.objects.filter(ticket=ticket).select_related("actor", "department").order_by("created_at", "id")


# Steps that carry the citizen's own words or voice: on a confidential ticket department staff
# see that they happened, not what was said (a name or number said in a chat stays out).
CITIZEN_CONTENT_KINDS = frozenset({EventKind.CHAT_TRANSCRIPT, EventKind.VOICEMAIL, EventKind.TRANSCRIPTION, EventKind.SMS_MEDIA})
WITHHELD = {"withheld": True}


# Steps where someone saw or heard what identifies the citizen (routing.actions._identifying).
IDENTIFYING_KINDS = frozenset({EventKind.CONTACT_REVEALED, EventKind.RECORDING_PLAYED})


def timeline_for(user: User, ticket: Ticket, events=None) -> list[TicketEvent]:
    """The timeline as ``user`` may see it. Department staff on a confidential ticket do not learn
    who looked at the citizen's contact or listened to their voice, nor the citizen's own words;
    others see every step."""
    events = list(timeline(ticket) if events is None else events)
    if getattr(user, "role", "") != Role.DEPARTMENT or not ticket.confidential:
        return events
    shown = []
    for event in events:
        if event.kind in IDENTIFYING_KINDS:
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


def city_counts(*, now=None) -> dict[str, int]:
    """The wallboard's numbers for the whole city, one count each, each read from an index.

    (One pass with a ``FILTER`` per number would read every ticket the city ever had.)
    """
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    running = Ticket.objects.filter(RUNNING)
    return {
        "open": Ticket.objects.filter(OPEN).count(),
        "today": Ticket.objects.filter(registered_at__gte=midnight).count(),
        "to_dispatch": Ticket.objects.filter(state=State.REGISTERED).count(),
        "overdue": running.filter(due_at__lt=now).count(),
        "due_soon": running.filter(warn_at__lte=now, due_at__gte=now).count(),
        "supervised": Ticket.objects.filter(SUPERVISED).count(),
    }
