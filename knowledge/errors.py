"""Errors of the knowledge room; each maps to one HTTP status and a machine code (API.md's error shape)."""

from __future__ import annotations


class KnowledgeError(Exception):
    code = "knowledge_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(KnowledgeError):
    code = "invalid"
    http_status = 400


class NotAllowed(KnowledgeError):
    """The user's role or department may not do this: 403."""

    code = "forbidden"
    http_status = 403


class NotFound(KnowledgeError):
    code = "not_found"
    http_status = 404


class Conflict(KnowledgeError):
    """Not allowed from the article's current state, or lost to a concurrent change: 409."""

    code = "conflict"
    http_status = 409


class SearchUnavailable(KnowledgeError):
    """The search backend does not answer; the database is fine and nothing is lost: 503."""

    code = "search_unavailable"
    http_status = 503
