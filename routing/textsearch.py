"""The ticket list's ``q``: routing asks, the room with the search engine answers.

Routing imports no other room (ARCHITECTURE.md), so the one function that finds
tickets by words, number or phone is registered here by the room that owns the
engine: ``knowledge`` does in ``KnowledgeConfig.ready`` (Elasticsearch, or the
embedded FTS5 index by default). The API's list and export, and the staff
pages' ticket search, all call ``find``; none of them matches text in SQL.

The finder answers with the ids of the newest matches the user may see, at most
``limit``; the database then applies the list's other filters to those ids and
stays the truth about each ticket (an index a moment behind never shows a
ticket in a state it has left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

LIST_LIMIT = 1000  # a list with words and a filter the engine lacks reads its newest 1,000 matches
EXPORT_LIMIT = 10000  # an export with words, its newest 10,000 (Elasticsearch's result window)
COUNT_LIMIT = 10000  # a list paged in the engine counts its matches up to this (and pages within it)


@dataclass(frozen=True)
class Found:
    """Ids of matching tickets, newest first; ``exact`` is False when more than ``len(ids)`` match."""

    ids: list[int]
    exact: bool = True
    total: int = 0  # how many match (at least, when not ``exact``)


Finder = Callable[..., Found]  # (user, text, *, states, category_id, limit) -> Found
_finder: Finder | None = None


def register(finder: Finder) -> None:
    global _finder
    _finder = finder


def find(
    user, text: str, *, states: Sequence[str] | None = None, category_id: int | None = None, limit: int = LIST_LIMIT, offset: int = 0, count_up_to: int = 0
) -> Found:
    """The tickets ``user`` may see that match ``text``: a ticket number (or its beginning), a caller's
    phone (hotline roles only), or words, each of which (or a synonym) must appear. ``limit`` ids after
    the first ``offset``, newest first; ``total`` counted up to ``count_up_to`` (or the slice's end)."""
    if _finder is None:
        raise ImproperlyConfigured("no ticket search is registered (the knowledge app registers it in its ready())")
    states = list(states) if states is not None else None
    return _finder(user, text, states=states, category_id=category_id, limit=limit, offset=offset, count_up_to=count_up_to)
