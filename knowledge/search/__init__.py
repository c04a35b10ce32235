"""The knowledge room's public search interface: one contract, two backends.

``settings.SEARCH_BACKEND`` chooses: ``"elasticsearch"`` (when
``ELASTICSEARCH_URL`` is set) or ``"embedded"`` (SQLite FTS5 in its own file).
Both index the same records (``knowledge.search.records``), read the same
synonyms, and answer ``ArticleQuery`` / ``TicketQuery`` with a ``Page``.

Other rooms use only the functions here: ``ping`` (``/healthz``),
``search_articles``, ``search_tickets``. Index updates arrive through the
outbox (``search.article`` and ``search.ticket``, see ``knowledge.handlers``);
``rebuild`` is what ``manage.py search_reindex`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import ModuleType

from django.conf import settings
from django.utils import timezone

from knowledge.search import records
from knowledge.search.query import ArticleHit, ArticleQuery, Matches, Page, TicketHit, TicketQuery

__all__ = [
    "ArticleHit", "ArticleQuery", "Matches", "Page", "TicketHit", "TicketQuery", "KINDS", "backend", "ping", "search_articles",
    "search_tickets", "ticket_matches", "index_article", "index_ticket", "rebuild", "refresh", "clear", "delete_all", "current_index",
]  # fmt: skip

KINDS = ("articles", "tickets")
# Changes made while a rebuild runs are indexed again after the swap; the margin covers clock skew between processes.
CATCH_UP_MARGIN = timedelta(seconds=5)


def backend() -> ModuleType:
    """The backend module chosen by ``settings.SEARCH_BACKEND``."""
    if settings.SEARCH_BACKEND == "elasticsearch":
        from knowledge.search import elastic

        return elastic
    if settings.SEARCH_BACKEND == "embedded":
        from knowledge.search import embedded

        return embedded
    raise ValueError(f"SEARCH_BACKEND must be 'elasticsearch' or 'embedded', not {settings.SEARCH_BACKEND!r}")


def ping() -> None:
    """Raise when the configured search backend does not answer (``/healthz``)."""
    backend().ping()


def search_articles(query: ArticleQuery) -> Page:
    """Knowledge articles for ``query``, best first; raises ``SearchUnavailable`` when the backend is down."""
    return backend().search_articles(query)


def search_tickets(query: TicketQuery) -> Page:
    """Tickets for ``query`` (by words, number, phone digest, address); raises ``SearchUnavailable`` when down."""
    return backend().search_tickets(query)


def ticket_matches(query: TicketQuery, *, limit: int, offset: int = 0, count_up_to: int = 0) -> Matches:
    """The ids of the newest tickets that match ``query``, ``limit`` of them after the first ``offset``
    (the ticket list's search: no hits built, no highlights), and how many match, counted up to
    ``count_up_to`` (or the end of the slice); raises ``SearchUnavailable`` when the backend is down."""
    return backend().ticket_matches(query, limit=limit, offset=offset, count_up_to=count_up_to)


def index_article(article_id: int) -> str:
    """Bring one article's document up to date: its live version, or nothing when it is not live."""
    record = records.article_record(article_id)
    if record is None:
        backend().delete_record("articles", article_id)
        return "deleted"
    backend().index_record("articles", record)
    return "indexed"


def index_ticket(ticket_id: int) -> str:
    """Bring one ticket's document up to date (removed when the ticket no longer exists)."""
    record = records.ticket_record(ticket_id)
    if record is None:
        backend().delete_record("tickets", ticket_id)
        return "deleted"
    backend().index_record("tickets", record)
    return "indexed"


def _catch_up(kind: str, ids: list[int]) -> None:
    """Index ``ids`` again in bulk (removing those no longer searchable)."""
    found = list(records.article_records(ids=ids) if kind == "articles" else records.ticket_records(ids=ids))
    backend().index_many(kind, found)
    for missing in set(ids) - {record.id for record in found}:
        backend().delete_record(kind, missing)


def refresh() -> None:
    """Make every write so far visible to searches (tests, the demo loader, benchmarks)."""
    backend().refresh()


def clear() -> None:
    """Remove every document, keeping the indices and their settings."""
    backend().clear()


def delete_all() -> None:
    """Remove every index of this backend and prefix."""
    backend().delete_all()


def current_index(kind: str) -> str | None:
    """The name of the index (or table generation) searches of ``kind`` use now."""
    return backend().current_index(kind)


def rebuild(
    kinds: tuple[str, ...] = KINDS,
    *,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    chunk_size: int | None = None,
    workers: int = 1,
) -> dict[str, dict]:
    """Rebuild the indices of ``kinds`` from the database in bulk, swapping each in when full.

    ``progress(kind, total)`` returns a callback that receives the number of
    documents just indexed. Searches keep answering from the old index until
    the swap; what changed meanwhile is indexed again right after it.
    ``workers`` > 1 segments the text in that many processes.
    """
    reports: dict[str, dict] = {}
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown search index kind {kind!r}")
        started = timezone.now() - CATCH_UP_MARGIN
        if kind == "articles":
            total, source = records.article_count(), records.article_records()
        else:
            total, source = records.ticket_count(), records.ticket_records()
        on_progress = progress(kind, total) if progress is not None else None
        options = {"chunk_size": chunk_size, "workers": workers} if chunk_size else {"workers": workers}
        report = backend().rebuild(kind, source, on_progress=on_progress, **options)
        changed = records.changed_article_ids(started) if kind == "articles" else records.changed_ticket_ids(started)
        if changed:
            _catch_up(kind, changed)
        report["caught_up"] = len(changed)
        reports[kind] = report
    return reports
