"""With Redis down the cache misses instead of raising, so counters and throttles never make a 500."""

from __future__ import annotations

import socket

from hotline.cache import DegradingRedisCache


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_down_redis_degrades_every_operation():
    cache = DegradingRedisCache(f"redis://127.0.0.1:{closed_port()}/0", {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
    assert cache.get("k", "fallback") == "fallback"
    assert cache.add("k", 1) is False
    assert cache.incr("k", 3) == 3
    assert cache.set("k", 1) is None
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("k") is False
    assert cache.has_key("k") is False


def test_a_live_redis_works_as_usual(redis_url):
    cache = DegradingRedisCache(redis_url, {"KEY_PREFIX": "cache-test"})
    cache.set("k", 41)
    assert cache.incr("k") == 42
    cache.delete("k")
    assert cache.get("k") is None
