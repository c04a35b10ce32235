"""The two wire formats of GeoReport v2: XML (UTF-8 declaration, no namespace) and JSON.

Both are rendered from the same plain value, so JSON is the mechanical
mapping of the XML: a list is a top-level array in JSON and a wrapper element
with one child per item in XML (``services`` → ``service`` ...).
"""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from django.http import HttpResponse

FORMATS = ("xml", "json")

# The element name of each item of a list, by the list's element name.
LIST_ITEMS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}


class Open311Error(Exception):
    """One or more GeoReport errors with one HTTP status: 404 unknown, 403 key, 400 anything else."""

    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(tag: str, value) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            element.append(_element(key, inner))
    elif isinstance(value, (list, tuple)):
        item_tag = LIST_ITEMS[tag]
        for inner in value:
            element.append(_element(item_tag, inner))
    else:
        element.text = _text(value)
    return element


def to_xml(root: str, value) -> bytes:
    """``value`` as an XML document whose root element is ``root``."""
    body = ET.tostring(_element(root, value), encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def respond(fmt: str, root: str, value, *, status: int = 200) -> HttpResponse:
    """An answer in ``fmt``; ``root`` names the XML root (the JSON has no root)."""
    if fmt == "xml":
        return HttpResponse(to_xml(root, value), content_type="text/xml; charset=utf-8", status=status)
    return HttpResponse(json.dumps(value, ensure_ascii=False), content_type="application/json; charset=utf-8", status=status)


def error_response(fmt: str, error: Open311Error) -> HttpResponse:
    """``[{"code": 400, "description": "..."}]`` or ``<errors><error>…</error></errors>``."""
    errors = [{"code": error.status, "description": text} for text in error.descriptions]
    return respond(fmt if fmt in FORMATS else "json", "errors", errors, status=error.status)
