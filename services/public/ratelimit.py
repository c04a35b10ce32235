"""Fixed-window rate limits on the shared Django cache (Redis in production and tests).

Counters live in the cache, not in the process, so every daphne process
sees the same count. Limits are read from settings with these defaults, so a
city can tune them without code:

``PUBLIC_RATE_LIMITS = {"report.ip": (10, 3600), ...}``  (count, seconds)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "report.ip": (20, 3600),  # web form submissions per client address per hour
    "report.phone": (5, 3600),  # per contact phone per hour
    "track.fail.ip": (10, 600),  # failed tracking look-ups per address per 10 minutes
    "track.ip": (120, 600),  # all tracking look-ups per address per 10 minutes
    "chat.start.ip": (10, 600),  # new chats per address per 10 minutes
    "open311.post.key": (120, 60),  # Open311 POSTs per integrator key per minute
    "open311.get.ip": (60, 60),  # Open311 reads per client address per minute (a list answers up to 1000 requests)
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int


def limit_for(scope: str) -> tuple[int, int]:
    overrides = getattr(settings, "PUBLIC_RATE_LIMITS", {}) or {}
    return tuple(overrides.get(scope, DEFAULT_LIMITS[scope]))  # type: ignore[return-value]


def _key(scope: str, ident: str, window_start: int) -> str:
    # The identity (an address, a phone digest) is hashed so no raw number lands in Redis.
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]
    return f"public-rl:{scope}:{digest}:{window_start}"


def _window(scope: str) -> tuple[int, int, int]:
    count, seconds = limit_for(scope)
    now = int(time.time())
    return count, seconds, now - now % seconds


def peek(scope: str, ident: str) -> Verdict:
    """Whether ``ident`` is still under the limit of ``scope``, without counting."""
    count, seconds, start = _window(scope)
    used = cache.get(_key(scope, ident, start), 0)
    return Verdict(allowed=used < count, retry_after=start + seconds - int(time.time()))


def hit(scope: str, ident: str, *, once: str | None = None) -> Verdict:
    """Count one use of ``scope`` by ``ident``; not allowed once the window's count is exceeded.

    ``once`` names the attempt (a web form's token): its repeats within the window
    (a double click, a reload, a retry after an error) are counted only the first time.
    """
    count, seconds, start = _window(scope)
    key = _key(scope, ident, start)
    once_key = _key(scope + ".once", f"{ident}\n{once}", start) if once is not None else None
    if once_key is not None and not cache.add(once_key, 0, timeout=seconds + 5):
        # A repeat: judged as its first time was (0 while that first time is still being counted).
        used = cache.get(once_key) or cache.get(key, 0)
        return Verdict(allowed=used <= count, retry_after=start + seconds - int(time.time()))
    cache.add(key, 0, timeout=seconds + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=seconds + 5)
        used = 1
    if once_key is not None:
        cache.set(once_key, used, timeout=seconds + 5)
    return Verdict(allowed=used <= count, retry_after=start + seconds - int(time.time()))


def client_ip(request) -> str:
    """The client's address as the ASGI server saw it.

    Behind nginx, daphne runs with ``--proxy-headers`` so REMOTE_ADDR is already
    the real client; a forwarded header is never trusted here, or anyone could
    dodge the limit by sending one.
    """
    return request.META.get("REMOTE_ADDR") or "unknown"
