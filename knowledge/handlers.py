"""Outbox handlers of the knowledge room: index updates, delivered after commit.

``search.ticket`` (payload ``{ticket_id}``) is queued by routing after every
ticket step; ``search.article`` (payload ``{article_id}``) by
``knowledge.actions``. A handler re-reads the row and writes its current
state, so running it twice, or out of order, leaves the index right. When the
backend is down the handler raises and the outbox retries later.
"""

from __future__ import annotations

from routing import outbox
from routing.models import OutboxMessage

from knowledge import search


def _id(message: OutboxMessage, field: str) -> int:
    value = (message.payload or {}).get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise outbox.Skip(f"payload has no valid {field}: {message.payload!r}")
    return value


def deliver_article_update(message: OutboxMessage) -> dict:
    """Re-index one article (its live version), or remove it from the index."""
    article_id = _id(message, "article_id")
    return {"article_id": article_id, "result": search.index_article(article_id)}


def deliver_ticket_update(message: OutboxMessage) -> dict:
    """Re-index one ticket."""
    ticket_id = _id(message, "ticket_id")
    return {"ticket_id": ticket_id, "result": search.index_ticket(ticket_id)}


def register() -> None:
    """Called from ``KnowledgeConfig.ready()``."""
    outbox.register_handler("search.article", deliver_article_update)
    outbox.register_handler("search.ticket", deliver_ticket_update)
