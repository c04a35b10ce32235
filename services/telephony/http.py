"""The HTTP side of ``twilio.rest.Client``.

``twilio.rest.Client`` has no base-URL option. ``RedirectingHttpClient``
rewrites every request for a Twilio host (``api.twilio.com``,
``messaging.twilio.com``, ``*.us1.twilio.com`` …) to ``TWILIO_API_BASE_URL``,
keeping path, query, body, headers and Basic auth exactly as the real client
built them. Production leaves ``TWILIO_API_BASE_URL`` unset and gets the stock
``TwilioHttpClient``; the tests point it at a local HTTP server.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.telephony import conf


def is_twilio_host(host: str) -> bool:
    host = (host or "").lower().rstrip(".")
    return host == "twilio.com" or host.endswith(".twilio.com")


class RedirectingHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` that sends Twilio's API requests to ``base_url`` instead."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"TWILIO_API_BASE_URL: expected http(s)://host[:port][/prefix], got {base_url!r}")
        self.base = parts

    def rewrite(self, url: str) -> str:
        """``https://api.twilio.com/2010-04-01/...`` → ``<base>/2010-04-01/...``; other hosts unchanged."""
        parts = urlsplit(url)
        if not is_twilio_host(parts.hostname or ""):
            return url
        path = self.base.path.rstrip("/") + parts.path
        return urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, parts.fragment))

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        return super().request(
            method, self.rewrite(url), params=params, data=data, headers=headers, auth=auth, timeout=timeout, allow_redirects=allow_redirects
        )


def http_client() -> TwilioHttpClient:
    """The HTTP client for REST calls: redirected when ``TWILIO_API_BASE_URL`` is set, stock otherwise."""
    timeout = float(conf.get("TWILIO_HTTP_TIMEOUT"))
    base_url = conf.get("TWILIO_API_BASE_URL")
    if base_url:
        return RedirectingHttpClient(base_url, timeout=timeout)
    return TwilioHttpClient(timeout=timeout)


def rest_client() -> Client:
    """A ``twilio.rest.Client`` for the configured account."""
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client())
