"""Telephony settings with their defaults, read from Django settings at call time.

Every value can be set in ``hotline/settings.py`` (from the environment); a
missing one falls back to the default here. They are read on each call, not
cached at import, so a test can change them with pytest-django's ``settings``
fixture. ``check()`` validates them once at start-up (``TelephonyConfig.ready``).

| setting                        | default          | meaning |
|--------------------------------|------------------|---------|
| ``HOTLINE_SERVICE_HOURS``      | ``00:00-24:00``  | when agents take calls, local time (``TIME_ZONE``); comma-separated windows; ``""`` = never |
| ``HOTLINE_QUEUE_NAME``         | ``hotline``      | the Twilio queue callers wait in |
| ``HOTLINE_QUEUE_MAX_WAIT``     | ``120``          | seconds in the queue before the caller is offered voicemail |
| ``HOTLINE_VOICEMAIL_MAX_LENGTH`` | ``120``        | seconds of a voice message (Twilio transcribes at most 120 s) |
| ``TWILIO_SAY_VOICE``           | ``Polly.Zhiyu``  | the ``<Say>`` voice |
| ``TWILIO_SAY_LANGUAGE``        | ``cmn-CN``       | the ``<Say>`` language (must match the voice) |
| ``TWILIO_GATHER_LANGUAGE``     | ``cmn-Hans-CN``  | the ``<Gather>`` language (only used for speech input) |
| ``TWILIO_API_BASE_URL``        | unset            | send REST calls here instead of ``https://api.twilio.com`` (tests) |
| ``TWILIO_HTTP_TIMEOUT``        | ``10``           | seconds before a REST call to Twilio gives up |
| ``TWILIO_API_KEY_SID``         | unset            | API key (SK…) that signs the agents' Voice SDK access tokens |
| ``TWILIO_API_KEY_SECRET``      | unset            | its secret |
| ``TWILIO_TWIML_APP_SID``       | unset            | the TwiML App (AP…) whose voice URL is ``/twilio/voice/agent/`` |
| ``TWILIO_AGENT_TOKEN_TTL``     | ``3600``         | seconds an agent's access token lives |
| ``TWILIO_RECORDING_MAX_BYTES`` | ``5242880``      | the largest voice message relayed to a browser (5 MiB; two minutes of Twilio MP3 is about 1 MB) |
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "HOTLINE_SERVICE_HOURS": "00:00-24:00",
    "HOTLINE_QUEUE_NAME": "hotline",
    "HOTLINE_QUEUE_MAX_WAIT": 120,
    "HOTLINE_VOICEMAIL_MAX_LENGTH": 120,
    "TWILIO_SAY_VOICE": "Polly.Zhiyu",
    "TWILIO_SAY_LANGUAGE": "cmn-CN",
    "TWILIO_GATHER_LANGUAGE": "cmn-Hans-CN",
    "TWILIO_API_BASE_URL": None,
    "TWILIO_HTTP_TIMEOUT": 10.0,
    "TWILIO_API_KEY_SID": None,
    "TWILIO_API_KEY_SECRET": None,
    "TWILIO_TWIML_APP_SID": None,
    "TWILIO_AGENT_TOKEN_TTL": 3600,
    "TWILIO_RECORDING_MAX_BYTES": 5 * 1024 * 1024,
}


def get(name: str):
    """The configured value of ``name``, or its default."""
    value = getattr(settings, name, None)
    if value is None or (value == "" and name != "HOTLINE_SERVICE_HOURS"):
        return DEFAULTS[name]
    return value


def telephony_enabled() -> bool:
    """Twilio credentials are set (``hotline.settings`` sets TELEPHONY_ENABLED from them)."""
    return bool(getattr(settings, "TELEPHONY_ENABLED", False)) and all(
        getattr(settings, name, None) for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER")
    )


def agent_client_enabled() -> bool:
    """Agents can take calls in the browser: telephony on, plus an API key and a TwiML App."""
    return telephony_enabled() and all(get(name) for name in ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_TWIML_APP_SID"))


# --- service hours --------------------------------------------------------------
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """One daily window of service, ``start`` inclusive, ``end`` exclusive, in minutes after midnight."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # crosses midnight, e.g. 22:00-06:00


def parse_service_hours(text: str) -> list[Window]:
    """``"08:30-12:00,13:30-17:30"`` → windows. ``"00:00-24:00"`` is all day; ``""`` is never."""
    windows: list[Window] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = _WINDOW.match(part)
        if not match:
            raise ImproperlyConfigured(f"HOTLINE_SERVICE_HOURS: expected HH:MM-HH:MM windows separated by commas, got {part.strip()!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h2 == 24 and m2 != 0):
            raise ImproperlyConfigured(f"HOTLINE_SERVICE_HOURS: no such time in {part.strip()!r}")
        windows.append(Window(h1 * 60 + m1, h2 * 60 + m2))
    return windows


def within_service_hours(at: dt.datetime | None = None) -> bool:
    """Whether agents take calls at ``at`` (now by default), in the project's time zone."""
    from django.utils import timezone

    local = timezone.localtime(at or timezone.now())
    minute = local.hour * 60 + local.minute
    return any(window.contains(minute) for window in parse_service_hours(get("HOTLINE_SERVICE_HOURS")))


def check() -> None:
    """Fail loudly at start-up on a malformed telephony setting."""
    parse_service_hours(get("HOTLINE_SERVICE_HOURS"))
    for name in ("HOTLINE_QUEUE_MAX_WAIT", "HOTLINE_VOICEMAIL_MAX_LENGTH", "TWILIO_AGENT_TOKEN_TTL"):
        value = get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ImproperlyConfigured(f"{name}: expected a positive whole number of seconds, got {value!r}")
    max_bytes = get("TWILIO_RECORDING_MAX_BYTES")
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise ImproperlyConfigured(f"TWILIO_RECORDING_MAX_BYTES: expected a positive whole number of bytes, got {max_bytes!r}")
    timeout = get("TWILIO_HTTP_TIMEOUT")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ImproperlyConfigured(f"TWILIO_HTTP_TIMEOUT: expected a positive number of seconds, got {timeout!r}")
    queue = get("HOTLINE_QUEUE_NAME")
    if not queue or len(queue) > 64:
        raise ImproperlyConfigured("HOTLINE_QUEUE_NAME: 1 to 64 characters (Twilio's limit)")
