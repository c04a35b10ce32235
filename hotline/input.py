"""Malformed input is refused at the door with a 400, before any view, form or query sees it.

One rule for the whole site, in two places that cannot overlap:

- ``MalformedInputMiddleware``: the path, the query string and the text fields
  of form bodies (urlencoded and multipart; files are data and keep their bytes). A NUL character in any of them (``%00``) is refused: PostgreSQL cannot
  store or compare it (the query failed inside the database, a 500) and SQLite's
  ``LIKE`` matched every row with it. More fields than
  ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (Django's ``TooManyFieldsSent``) is refused in
  the same shape instead of Django's bare 400 page.
- ``JSONParser`` (DRF's parser for every API view): JSON nested deeper than
  ``MAX_JSON_DEPTH`` (``json`` would raise ``RecursionError``, a 500) or with a
  NUL in any key or string (``"\\u0000"``) is a ``ParseError``, 400.

The form body is parsed here as ``CsrfViewMiddleware`` would parse it anyway,
after ``hotline.limits`` has bounded its size.

The answer has the shape of the path it was sent to: the API's error shape under
``/api/`` (and for any client that does not ask for a page), GeoReport's error
list under ``/open311/``, a short page for a browser.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32  # the API's deepest body is three levels; a client gets room, a recursion bomb does not

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_OPEN311_FORMAT = re.compile(r"\.(xml|json)$")


def nul_message() -> str:
    return _("请求中含有不允许的空字符（NUL）")


def depth_message() -> str:
    return _("JSON 嵌套过深（最多 %(depth)d 层）") % {"depth": MAX_JSON_DEPTH}


def _has_nul(pairs) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in pairs.lists())


def problem_of(request) -> tuple[str, str, dict] | None:
    """What is wrong with the request's path, query or form body: (code, message, details), or None."""
    if "\x00" in request.path_info:
        return "invalid", nul_message(), {"where": "path"}
    try:
        if _has_nul(request.GET):
            return "invalid", nul_message(), {"where": "query"}
        if request.method == "POST" and request.content_type in _FORMS and _has_nul(request.POST):
            return "invalid", nul_message(), {"where": "body"}
    except (TooManyFieldsSent, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return "too_many_fields", _("参数过多（最多 %(limit)d 个）") % {"limit": limit}, {"max_fields": limit}
    except RequestDataTooBig:
        return None  # hotline.limits answers it (413), first in the middleware list
    except UnicodeDecodeError:
        return "invalid", _("请求的编码无效（应为 UTF-8）"), {}
    return None


def refusal(request, code: str, message: str, details: dict) -> HttpResponse:
    """The 400 in the shape that the path's clients read."""
    from hotline.api_errors import error_body  # not at the top: it imports DRF's views, which read this module's parser

    path = request.path_info
    if path.startswith("/open311/"):
        from services.public.open311.formats import Open311Error, error_response

        match = _OPEN311_FORMAT.search(path.replace("\x00", ""))
        return error_response(match.group(1) if match else "json", Open311Error(400, message))
    if not path.startswith("/api/") and "text/html" in request.META.get("HTTP_ACCEPT", ""):
        title = _("请求无效")
        html = (
            f'<!DOCTYPE html><html lang="{escape(settings.LANGUAGE_CODE)}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
        )
        return HttpResponse(html, status=400, content_type="text/html; charset=utf-8")
    return JsonResponse(error_body(code, message, details), status=400, json_dumps_params={"ensure_ascii": False})


class MalformedInputMiddleware:
    """A 400 for a NUL in the path, query or form, or too many fields; after the size limit, before sessions and CSRF."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = problem_of(request)
        if problem is not None:
            return refusal(request, *problem)
        return self.get_response(request)


def check_json(value) -> None:
    """Raise ``ParseError`` if ``value`` (parsed JSON) nests deeper than ``MAX_JSON_DEPTH`` or holds a NUL."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ParseError(nul_message())
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(depth_message())
            if isinstance(item, dict):
                for key, inner in item.items():
                    if "\x00" in key:
                        raise ParseError(nul_message())
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def loads(text: str | bytes):
    """``json.loads`` with this module's rules: ``ValueError`` for bad, deep or NUL-bearing JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(depth_message()) from None
    try:
        check_json(value)
    except ParseError as exc:
        raise ValueError(str(exc.detail)) from None
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a depth limit and no NUL characters (``check_json``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(depth_message()) from None
        check_json(data)
        return data
