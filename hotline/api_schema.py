"""The OpenAPI schema's shared parts: every operation documents the errors it can answer.

The API answers every error in one shape (``hotline.api_errors.error_body``);
this drf-spectacular postprocessing hook adds that shape as the ``Error``
component and, on every operation, the statuses the API's common layers can
answer whatever the view: 400 bad input (``hotline.input``, the serializers),
401 without credentials, 403 for a role that may not, 404 for what does not
exist or is not visible, 429 over a rate limit, and for writes 409 (the state
or a concurrent change forbids it), 413 (body over the limit, ``hotline.limits``)
and 415 (a body type the API does not read). A view that documents a status
itself keeps its own.
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "machine code, e.g. invalid, not_found, conflict, rate_limited"},
                "message": {"type": "string", "description": "for people, in the request's language"},
                "details": {"type": "object", "additionalProperties": True, "description": "per field messages, limits"},
            },
        }
    },
}

DESCRIPTIONS = {
    "400": "Bad input: the message says what, details per field.",
    "401": "Not signed in (Token or session).",
    "403": "This role may not.",
    "404": "Not found, or not visible to this user.",
    "409": "The ticket's state, or a concurrent change, does not allow it now.",
    "413": "The body is over the limit.",
    "415": "The body's media type is not one the API reads.",
    "429": "Over a rate limit; Retry-After says when to try again.",
}
READ_ERRORS = ("400", "401", "403", "404", "429")
WRITE_ERRORS = READ_ERRORS + ("409", "413", "415")


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    answer = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code in WRITE_ERRORS if method != "get" else READ_ERRORS:
                responses.setdefault(code, {"description": DESCRIPTIONS[code], "content": answer})
    return result
