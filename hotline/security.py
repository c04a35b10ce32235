"""Security headers that Django's own settings do not cover.

Django's ``SecurityMiddleware`` and ``XFrameOptionsMiddleware`` already send
``X-Content-Type-Options``, ``Referrer-Policy``, ``Cross-Origin-Opener-Policy``
(``SECURE_CROSS_ORIGIN_OPENER_POLICY``, same-origin by default), HSTS (behind
TLS) and ``X-Frame-Options``. ``SecurityHeadersMiddleware`` adds:

- ``Content-Security-Policy`` with no inline-script allowance: scripts come
  from our own static files; a template that really needs an inline script
  gives it ``nonce="{{ request.csp_nonce }}"`` (a fresh nonce per response).
  Nothing may load from another origin (no CDN: a hotline runs on intranets).
- ``Permissions-Policy``: no camera, microphone, payment, USB or sensors; the
  location only for our own pages (the citizen's report form offers "use my
  location").
- ``Cross-Origin-Resource-Policy: same-origin``: other sites cannot embed our
  responses (attachments, API answers) in theirs.
- ``Cache-Control: no-store`` on answers to signed-in requests (session or
  ``Authorization``): a shared office PC's cache keeps no citizen's data.

Each value can be replaced in settings (``CONTENT_SECURITY_POLICY``,
``PERMISSIONS_POLICY``, ``CROSS_ORIGIN_RESOURCE_POLICY``); ``{nonce}`` in the
policy is replaced by the response's nonce. A header a view set itself is
left alone.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    # Inline style attributes are allowed; a nonce here would switch 'unsafe-inline' off again.
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "media-src 'self'; "
    "worker-src 'self' blob:; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), ambient-light-sensor=(), autoplay=(), browsing-topics=(), camera=(), display-capture=(), "
    "geolocation=(self), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)
CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"


def content_security_policy(nonce: str) -> str:
    """The policy for one response, with its nonce filled in."""
    template = getattr(settings, "CONTENT_SECURITY_POLICY", None) or CONTENT_SECURITY_POLICY
    return template.replace("{nonce}", nonce)


class SecurityHeadersMiddleware:
    """Adds the headers above to every response; put it right after ``SecurityMiddleware``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(nonce)
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = getattr(settings, "PERMISSIONS_POLICY", None) or PERMISSIONS_POLICY
        if "Cross-Origin-Resource-Policy" not in response:
            response["Cross-Origin-Resource-Policy"] = getattr(settings, "CROSS_ORIGIN_RESOURCE_POLICY", None) or CROSS_ORIGIN_RESOURCE_POLICY
        if "Cache-Control" not in response and _signed_in(request):
            add_never_cache_headers(response)
        return response


def _signed_in(request) -> bool:
    if request.META.get("HTTP_AUTHORIZATION"):
        return True
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_authenticated", False))
