"""With Redis down the cache keeps counting in this process's memory, so lockout and rate limits hold.

Every test talks to a real Redis: the shared one of the run while it is up,
or a redis-server of its own (``tests.trust.procs.RedisServer``) that it
stops; the shared one is never stopped. A "dead Redis" is either a closed
port or a TCP server of our own that hangs up on every connection and
counts them (the connection attempts the back-off must spare).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import redis
from django.core.cache import caches
from django.db import connection
from django.test import Client

from hotline.cache import DegradingRedisCache
from routing import accounts
from routing.models import User
from routing.roles import Role
from tests.trust import procs

PASSWORD = "correct-horse-12345"
FAST = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_prefix() -> str:
    """A key prefix of its own: the fallback store and back-off are per servers and prefix, and the kernel reuses ports."""
    return f"t-{uuid.uuid4().hex[:12]}"


def cache_on(location: str, **params) -> DegradingRedisCache:
    return DegradingRedisCache(location, {"OPTIONS": FAST, "KEY_PREFIX": fresh_prefix(), **params})


def down_cache(**params) -> DegradingRedisCache:
    """A cache on a port nothing listens on."""
    return cache_on(f"redis://127.0.0.1:{closed_port()}/0", **params)


class HangingUpServer:
    """A TCP server that accepts and at once closes every connection, counting them: a Redis that is there and dead."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _address = self._socket.accept()
            except OSError:  # closed by stop()
                return
            self.connections += 1  # counted before the close, so a caller that saw the hang-up sees the count
            conn.close()

    def stop(self):
        self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=5)


@pytest.fixture
def hanging_up():
    server = HangingUpServer()
    yield server
    server.stop()


@pytest.fixture
def workdir():
    path = procs.temp_dir("cache-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_redis(workdir, settings):
    """A redis-server of our own, made the project's cache (its own configuration, pointed there)."""
    server = procs.RedisServer(workdir)
    server.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url, "KEY_PREFIX": fresh_prefix()}}
    yield server
    caches["default"].clear()  # the in-memory fallback of this port, for a later test that draws the same one
    server.stop()


# --- the operations, with Redis down ---------------------------------------------------------------
def test_a_down_redis_keeps_real_semantics_for_every_operation():
    # given
    cache = down_cache()

    # then: what Redis would answer, from memory
    assert cache.get("k", "absent") == "absent"
    assert cache.add("k", 0, timeout=60) is True
    assert cache.add("k", 5, timeout=60) is False
    assert cache.incr("k") == 1
    assert cache.incr("k", 3) == 4
    assert cache.decr("k") == 3
    assert cache.get("k") == 3 and cache.has_key("k")
    with pytest.raises(ValueError):  # like Redis: the callers' add-then-incr pattern catches it
        cache.incr("missing")
    cache.set("s", [1.5, "路灯"], timeout=60)
    assert cache.get("s") == [1.5, "路灯"]
    assert cache.set_many({"a": 1, "b": 2}) == []
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert cache.touch("a", 60) is True and cache.touch("c", 60) is False
    assert cache.delete("a") is True and cache.delete("a") is False
    cache.delete_many(["b", "s"])
    assert cache.get_many(["b", "s"]) == {} and not cache.has_key("b")
    cache.clear()
    assert cache.get("k") is None


def test_fallback_counters_expire_after_their_timeout():
    # given: the lockout's own pattern, add(key, 0, timeout) then incr
    cache = down_cache()
    cache.add("attempts", 0, timeout=2)
    assert cache.incr("attempts") == 1
    cache.set("touched", 1, timeout=2)
    assert cache.touch("touched", 30)

    # when: the timeout passes
    time.sleep(2.3)

    # then: the counter is gone (a fresh add starts it again), the touched key is not
    assert cache.get("attempts") is None and not cache.has_key("attempts")
    with pytest.raises(ValueError):
        cache.incr("attempts")
    assert cache.add("attempts", 0, timeout=2) is True
    assert cache.get("touched") == 1


def test_the_fallback_is_bounded():
    cache = down_cache(FALLBACK_MAX_ENTRIES=50)
    for n in range(500):
        cache.set(f"k{n}", n)
    kept = cache.get_many([f"k{n}" for n in range(500)])
    assert 0 < len(kept) <= 50
    assert kept["k499"] == 499  # the newest are kept, the least recently used culled


def test_every_instance_for_one_redis_shares_the_fallback():
    """Django makes a cache instance per thread and, under ASGI, per request: counts must survive that."""
    # given
    location, prefix = f"redis://127.0.0.1:{closed_port()}/0", fresh_prefix()
    first = DegradingRedisCache(location, {"OPTIONS": FAST, "KEY_PREFIX": prefix})
    first.add("k", 0)
    first.incr("k")

    # when: another instance of the same configuration (the next request)
    second = DegradingRedisCache(location, {"OPTIONS": FAST, "KEY_PREFIX": prefix})

    # then
    assert second.incr("k") == 2
    assert cache_on(location).get("k") is None  # another prefix, another store


def test_the_warning_is_logged_once_a_minute(caplog):
    cache = down_cache(REDIS_BACKOFF_SECONDS=0)
    with caplog.at_level(logging.WARNING, logger="hotline.cache"):
        for _ in range(5):
            cache.get("k")
    assert len([r for r in caplog.records if "Redis is unavailable" in r.getMessage()]) == 1


# --- the back-off ------------------------------------------------------------------------------------
def test_a_dead_redis_is_not_contacted_on_every_call(hanging_up):
    # given: a Redis that accepts and hangs up, with a back-off longer than this test
    cache = cache_on(f"redis://127.0.0.1:{hanging_up.port}/0", REDIS_BACKOFF_SECONDS=600)

    # when: a burst of calls, the login lockout's and the rate limits' own
    for n in range(20):
        cache.add(f"k{n}", 0, timeout=60)
        cache.incr(f"k{n}")
        cache.get(f"k{n}")

    # then: one connection attempt, the first call's; the rest counted in memory
    assert hanging_up.connections == 1
    assert cache.get("k19") == 1


def test_after_the_back_off_redis_is_tried_again(hanging_up):
    # given
    cache = cache_on(f"redis://127.0.0.1:{hanging_up.port}/0", REDIS_BACKOFF_SECONDS=2)
    cache.get("k")
    cache.get("k")
    assert hanging_up.connections == 1

    # when: the back-off has passed
    time.sleep(2.3)
    cache.get("k")

    # then: one more attempt, and a new back-off after it
    cache.get("k")
    assert hanging_up.connections == 2


def test_when_redis_comes_back_it_is_authoritative_again(workdir):
    # given: our own Redis, a count in it, then Redis dies and counting goes on in memory
    server = procs.RedisServer(workdir)
    server.start()
    try:
        cache = cache_on(server.url, REDIS_BACKOFF_SECONDS=0.3)
        raw = redis.Redis.from_url(server.url, socket_timeout=2)
        cache.add("before", 0)
        assert cache.incr("before") == 1
        server.kill()
        cache.add("during", 0)
        assert [cache.incr("during") for _ in range(3)] == [1, 2, 3]

        # when: Redis is back (empty: no persistence) and the back-off has passed
        server.start()
        time.sleep(0.5)
        cache.add("after", 0)
        cache.incr("after")

        # then: reads and writes are Redis's again; the outage's counts were not merged
        assert raw.get(cache.make_key("after")) == b"1"
        assert cache.get("during") is None and raw.get(cache.make_key("during")) is None
        assert cache.get("before") is None
        raw.close()
    finally:
        server.stop()


def test_a_live_redis_works_as_usual(redis_url):
    cache = DegradingRedisCache(redis_url, {"KEY_PREFIX": "cache-test"})
    cache.set("k", 41)
    assert cache.incr("k") == 42
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(cache.make_key("k")) == b"42"  # in Redis, not in memory
    raw.close()
    cache.delete("k")
    assert cache.get("k") is None


# --- the limits, with Redis down ---------------------------------------------------------------------
def test_the_lockout_expires_after_its_window_in_the_fallback(own_redis, settings):
    # given
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 2
    own_redis.kill()

    # when: the limit of failures
    accounts.record_failure("tr-cache-laoli")
    accounts.record_failure("tr-cache-laoli")

    # then: locked, and no longer once the window has passed
    assert accounts.is_locked("tr-cache-laoli")
    time.sleep(2.3)
    assert not accounts.is_locked("tr-cache-laoli")


def test_a_rate_limited_endpoint_answers_429_with_redis_down(own_redis, settings, db):
    # given: three wrong tracking look-ups allowed per address
    settings.PUBLIC_RATE_LIMITS = {"track.fail.ip": (3, 600)}
    own_redis.kill()
    client = Client()

    # when: one more
    codes = [client.get("/api/v1/public/track/", {"number": "20260101-000001", "phone": "13000000000"}).status_code for _ in range(4)]

    # then
    assert codes == [404, 404, 404, 429]


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_redis_down_a_real_daphne_locks_the_account_after_the_limit(own_redis, workdir):
    """Through the token endpoint of a real daphne process, where every request has its own cache instance."""
    # given: an account, daphne on our own Redis, then Redis dies
    User.objects.create_user(username="tr-cache-laoli", password=PASSWORD, role=Role.DISPATCHER)
    env = procs.project_env(connection.settings_dict["NAME"], REDIS_URL=own_redis.url, LOGIN_FAILURE_LIMIT="3")
    daphne, port = procs.start_daphne(env, workdir / "daphne.log")
    try:
        own_redis.kill()
        url = f"http://127.0.0.1:{port}/api/v1/auth/token/"

        # when: the limit of wrong passwords, then the right one
        wrong = [_post_json(url, {"username": "tr-cache-laoli", "password": "wrong-password"})[0] for _ in range(3)]
        status, body = _post_json(url, {"username": "tr-cache-laoli", "password": PASSWORD})
    finally:
        daphne.stop()

    # then: refused as locked, though Redis was down the whole time
    assert wrong == [401, 401, 401]
    assert status == 403 and body["error"]["code"] == "locked", (status, body)
