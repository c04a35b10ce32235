"""重复件: open tickets that may be the same problem as a new one, for the dispatcher to merge.

Candidates are recent open tickets in the same top-level category or the same
area; they are ranked by how many character pairs their texts share (Chinese
has no spaces, so bigrams stand in for words).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from routing.models import Ticket
from routing.states import State

WINDOW = dt.timedelta(days=14)
MERGEABLE_INTO = [s for s in State.values if s not in {State.MERGED, State.DECLINED, State.WITHDRAWN, State.CLOSED}]


def _bigrams(text: str) -> set[str]:
    text = "".join(ch for ch in (text or "") if not ch.isspace())
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _jaccard(x: set[str], y: set[str]) -> float:
    if not x or not y:
        return 0.0
    shared = len(x & y)
    return shared / (len(x) + len(y) - shared)


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of character bigrams, 0..1."""
    return _jaccard(_bigrams(a), _bigrams(b))


def _text(ticket: Ticket) -> str:
    return f"{ticket.title} {ticket.description} {ticket.address}"


def candidates_for(tickets: list[Ticket], *, limit: int = 3, threshold: float = 0.12) -> dict[int, list[tuple[Ticket, float]]]:
    """For each ticket: up to ``limit`` likely duplicates among recent open tickets, best first (one query)."""
    if not tickets:
        return {}
    since = timezone.now() - WINDOW
    roots = {t.category.path.strip("/").split("/")[0] for t in tickets if t.category_id}
    areas = {t.area_id for t in tickets if t.area_id}
    match = Q(area_id__in=areas)
    for root in roots:
        match |= Q(category__path__startswith=f"/{root}/")
    pool = list(Ticket.objects.filter(match, state__in=MERGEABLE_INTO, registered_at__gte=since).select_related("category", "department").order_by("-registered_at")[:400])
    pool_grams = [(other, _bigrams(_text(other))) for other in pool]  # each text split once, not once per pair
    result = {}
    for ticket in tickets:
        grams = _bigrams(_text(ticket))
        scored = []
        for other, other_grams in pool_grams:
            if other.pk == ticket.pk:
                continue
            same_place = bool(ticket.area_id and other.area_id == ticket.area_id)
            score = _jaccard(grams, other_grams) + (0.05 if same_place else 0)
            if score >= threshold:
                scored.append((other, round(score, 2)))
        scored.sort(key=lambda pair: -pair[1])
        result[ticket.pk] = scored[:limit]
    return result
