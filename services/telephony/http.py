"""The HTTP side of ``twilio.rest.Client``.

``twilio.rest.Client`` has no base-URL option. ``RedirectingHttpClient``
rewrites every request for a Twilio host (``api.twilio.com``,
``messaging.twilio.com``, ``*.us1.twilio.com`` …) to ``TWILIO_API_BASE_URL``,
keeping path, query, body, headers and Basic auth exactly as the real client
built them. Production leaves ``TWILIO_API_BASE_URL`` unset and gets the stock
``TwilioHttpClient``; the tests point it at a local HTTP server.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import ReadTimeoutError
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


# --- binary media ------------------------------------------------------------------------
# ``TwilioHttpClient.request`` hands back ``Response(status, response.text, headers)``:
# the body decoded as text, which mangles audio. Media is therefore fetched through
# the same client's ``requests`` session, proxy, hooks and timeout, streamed, and
# read as bytes up to a cap.


class MediaError(Exception):
    """Twilio's media could not be had: ``reason`` is ``status`` (see ``status``), ``too_large``,
    ``not_media``, ``timeout`` or ``unreachable``."""

    def __init__(self, reason: str, *, status: int | None = None):
        super().__init__(reason if status is None else f"{reason} {status}")
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Media:
    content: bytes
    content_type: str


def target_url(client: TwilioHttpClient, url: str) -> str:
    """Where ``client`` really sends a request for ``url`` (the local server in tests)."""
    return client.rewrite(url) if isinstance(client, RedirectingHttpClient) else url


def fetch_media(url: str, *, auth: tuple[str, str], max_bytes: int, accept: str = "audio/*") -> Media:
    """GET ``url`` (a Twilio media URL) with Basic ``auth`` and return its bytes, untouched.

    Redirects are followed (``requests`` drops the credentials when the host
    changes). Raises ``MediaError`` for an answer other than 200, a body over
    ``max_bytes`` (announced or actual), an answer that is not ``accept``'s type,
    a timeout or an unreachable host.
    """
    client = http_client()
    session = client.session or requests.Session()
    request = requests.Request("GET", target_url(client, url), headers={"Accept": accept}, auth=auth, hooks=client.request_hooks)
    prepared = session.prepare_request(request)
    options = session.merge_environment_settings(prepared.url, client.proxy, True, None, None)
    try:
        response = session.send(prepared, allow_redirects=True, timeout=client.timeout, **options)
    except requests.Timeout as exc:
        raise MediaError("timeout") from exc
    except requests.RequestException as exc:
        raise MediaError("unreachable") from exc
    with response:
        if response.status_code != 200:
            raise MediaError("status", status=response.status_code)
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        wanted = accept.split("/")[0] + "/"
        if not content_type.startswith(wanted):
            raise MediaError("not_media")
        announced = response.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) > max_bytes:
            raise MediaError("too_large")
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise MediaError("too_large")
                chunks.append(chunk)
        except requests.RequestException as exc:
            # A read timeout while streaming arrives as a ConnectionError wrapping urllib3's.
            timed_out = isinstance(exc, requests.Timeout) or any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
            raise MediaError("timeout" if timed_out else "unreachable") from exc
    return Media(content=b"".join(chunks), content_type=content_type)
