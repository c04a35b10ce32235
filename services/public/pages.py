"""Answers the citizen portal gives when it refuses a request: too many tries, too large."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from hotline.api_errors import error_body
from services.public import uploads


def _minutes(seconds: int) -> int:
    return max(1, (max(seconds, 0) + 59) // 60)


def rate_limited(request: HttpRequest, *, retry_after: int) -> HttpResponse:
    """429 with a page that says how long to wait."""
    response = render(
        request,
        "public/message.html",
        {"title": _("操作过于频繁"), "message": _("您的操作过于频繁，请约 %(m)d 分钟后再试。如有紧急情况请直接拨打 12345。") % {"m": _minutes(retry_after)}},
        status=429,
    )
    response["Retry-After"] = str(max(retry_after, 1))
    return response


def rate_limited_json(*, retry_after: int) -> JsonResponse:
    response = JsonResponse(
        error_body("rate_limited", _("请求过于频繁，请约 %(m)d 分钟后再试") % {"m": _minutes(retry_after)}, {"retry_after": max(retry_after, 1)}),
        status=429,
    )
    response["Retry-After"] = str(max(retry_after, 1))
    return response


def too_large(request: HttpRequest, *, max_mb: int) -> HttpResponse:
    """413 for a body over the form's limit, refused before it is parsed."""
    return render(
        request,
        "public/message.html",
        {
            "title": _("提交内容过大"),
            "message": _("提交的内容超过 %(mb)d MB。每个附件最大 %(file_mb)d MB，最多 %(n)d 个，请压缩后重新提交。")
            % {"mb": max_mb, "file_mb": uploads.MAX_FILE_BYTES // (1024 * 1024), "n": uploads.MAX_FILES},
        },
        status=413,
    )
