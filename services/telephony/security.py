"""Only Twilio may call the webhooks: every request's ``X-Twilio-Signature`` is checked."""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from hotline.api_errors import error_body
from services.telephony import conf

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"


def signature_is_valid(request: HttpRequest) -> bool:
    """Twilio's signature over the URL it called and all the POST parameters it sent.

    The URL is the one Django sees; behind a TLS-terminating proxy the
    settings ``SECURE_PROXY_SSL_HEADER`` / ``USE_X_FORWARDED_HOST`` make it the
    public one Twilio signed.
    """
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    return validator.validate(request.build_absolute_uri(), request.POST, signature)


def twilio_webhook(view):
    """POST only, CSRF-exempt, 503 while telephony is off, 403 without a valid signature.

    Verification is skipped only when ``TWILIO_VALIDATE_SIGNATURES`` is
    explicitly False — never merely because DEBUG is on.
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            response = JsonResponse(error_body("method_not_allowed", _("仅接受 POST 请求")), status=405)
            response["Allow"] = "POST"
            return response
        if not conf.telephony_enabled():
            return JsonResponse(
                error_body("telephony_disabled", _("电话与短信渠道未启用：请设置 TWILIO_ACCOUNT_SID、TWILIO_AUTH_TOKEN 和 TWILIO_PHONE_NUMBER")),
                status=503,
            )
        if getattr(settings, "TWILIO_VALIDATE_SIGNATURES", True) is not False and not signature_is_valid(request):
            log.warning("twilio webhook %s: missing or bad X-Twilio-Signature", request.path)
            return JsonResponse(error_body("bad_signature", _("请求签名无效")), status=403)
        return view(request, *args, **kwargs)

    return wrapper
