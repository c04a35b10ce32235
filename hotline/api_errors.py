"""One error shape for the whole API (see API.md):

``{"error": {"code": "<machine_code>", "message": "<human text>", "details": {...}}}``
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from routing.errors import DomainError


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("invalid", "; ".join(exc.messages), details), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = error_body("invalid", _first_message(details), details)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.Throttled):
            code = "rate_limited"
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, detail)
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = "Token"
    return response


def _first_message(details) -> str:
    if isinstance(details, dict):
        for field, value in details.items():
            inner = _first_message(value)
            return f"{field}: {inner}" if field != "non_field_errors" else inner
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


def not_found(request, exception=None):
    """``handler404``: an address under /api/ that no route matches answers in the API's shape, not a page."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse
        from django.utils.translation import gettext as _

        return JsonResponse(error_body("not_found", _("没有这个接口地址")), status=404, json_dumps_params={"ensure_ascii": False})
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
