"""Domain errors: each maps to one HTTP status and a machine code (API.md)."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(DomainError):
    code = "invalid"
    http_status = 400


class NotAllowed(DomainError):
    """The actor's role (or department) may not do this: 403."""

    code = "forbidden"
    http_status = 403


class TransitionConflict(DomainError):
    """Not allowed from the current state, or lost to a concurrent change: 409."""

    code = "conflict"
    http_status = 409


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class NotReady(DomainError):
    """What the request needs does not exist yet (no classifier model is trained): 409, never a 5xx."""

    code = "not_ready"
    http_status = 409
