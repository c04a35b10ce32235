"""A Redis cache that degrades instead of failing when Redis is away.

The cache only holds what can be lost: rate-limit and lockout counters,
throttles. With Redis down, pages and intake must keep working (ARCHITECTURE:
nothing a user needs is lost when a backing service is down), so reads miss,
writes are dropped and counters start afresh — rate limits fail open for the
outage — and a warning is logged once a minute per process.
"""

from __future__ import annotations

import logging
import time
from functools import wraps

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
_last_warning = 0.0


def _warn(exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        log.warning("cache: Redis is unavailable, serving without the cache: %s", exc)


def _degrading(method, fallback):
    @wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _DOWN as exc:
            _warn(exc)
            return fallback(*args, **kwargs)

    return wrapper


def _default(key, default=None, *args, **kwargs):
    return default


def _incr(key, delta=1, *args, **kwargs):
    return delta


class DegradingRedisCache(RedisCache):
    get = _degrading(RedisCache.get, _default)
    get_many = _degrading(RedisCache.get_many, lambda keys, *a, **k: {})
    has_key = _degrading(RedisCache.has_key, lambda *a, **k: False)
    add = _degrading(RedisCache.add, lambda *a, **k: False)
    set = _degrading(RedisCache.set, lambda *a, **k: None)
    set_many = _degrading(RedisCache.set_many, lambda data, *a, **k: list(data))
    touch = _degrading(RedisCache.touch, lambda *a, **k: False)
    delete = _degrading(RedisCache.delete, lambda *a, **k: False)
    delete_many = _degrading(RedisCache.delete_many, lambda *a, **k: None)
    incr = _degrading(RedisCache.incr, _incr)
    clear = _degrading(RedisCache.clear, lambda *a, **k: False)
