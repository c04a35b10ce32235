"""Errors of the knowledge room: the domain errors of ``routing.errors`` (one shape, one mapping
to HTTP in hotline/api_errors.py), plus the one only search has."""

from __future__ import annotations

from routing.errors import DomainError as KnowledgeError
from routing.errors import InvalidInput, NotAllowed, NotFound
from routing.errors import TransitionConflict as Conflict

__all__ = ["Conflict", "InvalidInput", "KnowledgeError", "NotAllowed", "NotFound", "SearchUnavailable"]


class SearchUnavailable(KnowledgeError):
    """The search backend does not answer; the database is fine and nothing is lost: 503."""

    code = "search_unavailable"
    http_status = 503
