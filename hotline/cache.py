"""A Redis cache that keeps counting in memory while Redis is away.

The cache only holds what can be lost: rate-limit and lockout counters
(``routing.accounts``, ``services.public.ratelimit``) and DRF's throttle
history. With Redis down, pages and intake must keep working (ARCHITECTURE:
nothing a user needs is lost when a backing service is down), and the limits
must keep limiting: a lockout that forgets every failure while Redis is down
gives whoever can knock Redis over unlimited password guesses.

So when a call cannot reach Redis it is served by a fallback, Django's
``LocMemCache`` (bounded: ``FALLBACK_MAX_ENTRIES``, 10 000 by default), with
the same semantics: ``add`` adds only a missing key, ``incr`` of a missing key
raises ``ValueError`` as Redis does (the callers' ``add(key, 0)`` then
``incr(key)`` pattern relies on it), timeouts expire. After a failure Redis is
left alone for ``REDIS_BACKOFF_SECONDS`` (5 s by default, monotonic clock):
calls go straight to the fallback, then one call tries Redis again. A warning
is logged at most once a minute per process.

Trade-offs, on purpose:

- During an outage the counters are per process: with N daphne processes an
  attacker gets at most N times each budget (N × ``LOGIN_FAILURE_LIMIT``
  guesses per account per lockout window), not an unlimited number.
- When Redis answers again it is authoritative at once. What was counted in
  the fallback is not merged into Redis (so a window that spans the outage
  and the return may allow up to (N + 1) times its budget, once); it is left
  to expire with its timeouts.
- A flood of distinct keys beyond ``FALLBACK_MAX_ENTRIES`` culls the least
  recently used counters, so the bound is also a limit on what an outage can
  remember.

Why the fallback store and the back-off are shared by every instance with the
same servers and key prefix in this process rather than held by one instance:
Django makes a cache instance per thread and, under ASGI, per request (the
handler keeps them in a context-local), so an instance's own memory would
start afresh on every request. They are still per process, never shared
between processes (ARCHITECTURE: no module-level state that must be shared),
and the fallback store is LocMemCache's own named store.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
WARNING_INTERVAL = 60.0
DEFAULT_BACKOFF_SECONDS = 5.0
DEFAULT_FALLBACK_MAX_ENTRIES = 10_000


class RedisHealth:
    """This process's view of one Redis: up, or down until ``retry_at`` (monotonic seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0
        self._last_warning = -WARNING_INTERVAL - 1.0

    def should_try(self, backoff: float) -> bool:
        """Whether this call may use Redis; after the back-off only one caller probes, the others keep to the fallback."""
        if not self.down:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self.retry_at:
                return False
            self.retry_at = now + backoff
            return True

    def failed(self, exc: Exception, backoff: float) -> None:
        with self._lock:
            now = time.monotonic()
            self.down = True
            self.retry_at = now + backoff
            warn = now - self._last_warning >= WARNING_INTERVAL
            if warn:
                self._last_warning = now
        if warn:
            log.warning("cache: Redis is unavailable, counting in this process's memory (retrying every %.0f s): %s", backoff, exc)

    def answered(self) -> None:
        if not self.down:
            return
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:
            log.info("cache: Redis answers again and is authoritative; counts kept in memory meanwhile are not merged")


_health: dict[str, RedisHealth] = {}
_health_lock = threading.Lock()


def _health_for(name: str) -> RedisHealth:
    with _health_lock:
        return _health.setdefault(name, RedisHealth())


def _degrading(name: str):
    redis_method = getattr(RedisCache, name)

    def method(self, *args, **kwargs):
        if self._health.should_try(self._backoff):
            try:
                result = redis_method(self, *args, **kwargs)
            except _DOWN as exc:
                self._health.failed(exc, self._backoff)
            else:
                self._health.answered()
                return result
        return getattr(self._fallback, name)(*args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"DegradingRedisCache.{name}"
    method.__doc__ = f"``{name}`` on Redis; on the in-memory fallback while Redis is unreachable."
    return method


class DegradingRedisCache(RedisCache):
    """Django's Redis cache, falling back to a per-process ``LocMemCache`` while Redis is unreachable.

    Extra cache parameters (beside ``OPTIONS``, which go to redis-py):
    ``FALLBACK_MAX_ENTRIES`` and ``REDIS_BACKOFF_SECONDS``.
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        self._backoff = float(params.get("REDIS_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS))
        store = f"{__name__}.fallback:{','.join(self._servers)}|{self.key_prefix}"
        self._health = _health_for(store)
        fallback_params = {
            "OPTIONS": {"MAX_ENTRIES": int(params.get("FALLBACK_MAX_ENTRIES", DEFAULT_FALLBACK_MAX_ENTRIES)), "CULL_FREQUENCY": 10},
            **{key: params[key] for key in ("TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION") if key in params},
        }
        # LocMemCache keeps its data by name, so every instance for these servers shares one store.
        self._fallback = LocMemCache(store, fallback_params)

    get = _degrading("get")
    get_many = _degrading("get_many")
    has_key = _degrading("has_key")
    add = _degrading("add")
    set = _degrading("set")
    set_many = _degrading("set_many")
    touch = _degrading("touch")
    delete = _degrading("delete")
    delete_many = _degrading("delete_many")
    incr = _degrading("incr")
    _clear = _degrading("clear")

    def clear(self):
        """Empty Redis (when it answers) and the in-memory fallback."""
        self._fallback.clear()
        return self._clear()
