"""Refuse oversize request bodies early: 413 in the API's error shape, before anything parses them.

Two layers, one rule (``limit_for(path)``):

- ``BodySizeLimit`` wraps the ASGI application (``hotline/asgi.py``). It looks
  at ``Content-Length`` before reading a byte of the body and answers 413 at
  once; a body without a length (chunked) is counted while it arrives and cut
  off at the limit, so Django never buffers more than the limit.
- ``RequestSizeLimitMiddleware`` is the same check as Django middleware, for
  WSGI and the test client, and as a second line behind the ASGI one.

Limits: ``settings.DATA_UPLOAD_MAX_MEMORY_SIZE`` for every path (what Django
itself accepts for a non-file body), raised for the paths that take files:
``settings.REQUEST_BODY_LIMITS`` maps a path prefix to bytes and defaults to
the citizen web form's own maximum (``services.public.uploads``). nginx's
``client_max_body_size`` must be at least the largest limit, or nginx answers
first with its own page.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from hotline.api_errors import error_body


def _default_prefix_limits() -> dict[str, int]:
    from services.public.uploads import MAX_REQUEST_BYTES

    return {"/report/": MAX_REQUEST_BYTES}


def limit_for(path: str) -> int:
    """The largest body accepted for ``path``, in bytes (the longest matching prefix wins)."""
    default = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2 * 1024 * 1024
    prefixes = getattr(settings, "REQUEST_BODY_LIMITS", None)
    if prefixes is None:
        prefixes = _default_prefix_limits()
    best, best_length = default, -1
    for prefix, limit in prefixes.items():
        if path.startswith(prefix) and len(prefix) > best_length:
            best, best_length = limit, len(prefix)
    return best


def parse_length(value: str | bytes | None) -> int | None:
    """A Content-Length header as a number; None when absent; -1 when malformed."""
    if value is None or value in ("", b""):
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if not value.isdigit():
        return -1
    return int(value)


def _message(limit: int) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _("提交的内容过大（最多 %(mb).1f MB）") % {"mb": limit / (1024 * 1024)}


def _wants_html(path: str, accept: str) -> bool:
    """Browsers submitting a page's form get a page; API clients and scripts get JSON."""
    return not path.startswith("/api/") and "text/html" in (accept or "")


def too_large_parts(path: str, accept: str, limit: int) -> tuple[int, str, bytes]:
    """Status, content type and body of the 413 answer."""
    message = _message(limit)
    if _wants_html(path, accept):
        with translation.override(settings.LANGUAGE_CODE):
            title = _("提交内容过大")
            hint = _("请压缩附件或减少附件数量后重新提交。")
        html = (
            f'<!DOCTYPE html><html lang="{escape(settings.LANGUAGE_CODE)}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p><p>{escape(hint)}</p></body></html>"
        )
        return 413, "text/html; charset=utf-8", html.encode()
    body = json.dumps(error_body("too_large", message, {"max_bytes": limit}), ensure_ascii=False)
    return 413, "application/json", body.encode()


def bad_length_parts() -> tuple[int, str, bytes]:
    with translation.override(settings.LANGUAGE_CODE):
        message = _("请求头 Content-Length 无效")
    return 400, "application/json", json.dumps(error_body("invalid", message), ensure_ascii=False).encode()


class RequestSizeLimitMiddleware:
    """413 for a declared body over the path's limit, before the view or CSRF reads it. Put it first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = parse_length(request.META.get("CONTENT_LENGTH"))
        if length == -1:
            status, content_type, body = bad_length_parts()
            return HttpResponse(body, status=status, content_type=content_type)
        if length is not None:
            limit = limit_for(request.path_info)
            if length > limit:
                status, content_type, body = too_large_parts(request.path_info, request.META.get("HTTP_ACCEPT", ""), limit)
                if content_type == "application/json":
                    return JsonResponse(json.loads(body), status=status, json_dumps_params={"ensure_ascii": False})
                return HttpResponse(body, status=status, content_type=content_type)
        return self.get_response(request)


class BodySizeLimit:
    """ASGI wrapper: answers 413 from the headers alone, or cuts off a body that grows past the limit."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        path = scope.get("path", "")
        accept = headers.get(b"accept", b"").decode("latin-1")
        limit = limit_for(path)
        length = parse_length(headers.get(b"content-length"))
        if length == -1:
            return await _answer(send, *bad_length_parts())
        if length is not None and length > limit:
            return await _answer(send, *too_large_parts(path, accept, limit))

        received = 0
        overflow = False
        started = False

        async def limited_receive():
            nonlocal received, overflow
            if overflow:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django sees a client that went away and stops reading; we answer for it.
                    overflow = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if overflow and not started:
            await _answer(send, *too_large_parts(path, accept, limit))


async def _answer(send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
