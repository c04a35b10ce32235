"""The project's Redis channel layer under the two failures the WebSocket benchmark met.

Each test builds the layer from ``settings.CHANNEL_LAYERS`` (the project's own
configuration) against the real Redis of ``REDIS_URL``:

- a receive outlasts its blocking pop (``BZPOPMIN``, 5 s) when Redis answers
  late, instead of dying with ``Timeout reading from`` on the client's read
  timeout (redis-py 8 reads with 5 s by default: the pop's empty answer raced it);
- a burst of ``group_discard`` calls on one layer, more than its pool's cap of
  connections, all take effect (redis-py's plain pool raised ``MaxConnectionsError``
  instead, and the channels stayed in their group), and the pool never opens more
  than its cap (``hotline.channel_layer.BoundedRedisChannelLayer`` waits for a free one).

See docs/BENCHMARKS.md, "WebSocket".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from asgiref.sync import async_to_sync

# redis-py 8's default socket read timeout (redis/_defaults.py), the one the pop raced.
REDIS_PY_DEFAULT_READ_TIMEOUT = 5
# Enough concurrent commands to overrun redis-py 8's default pool (100 connections)
# and the project's cap (CHANNEL_LAYER_MAX_CONNECTIONS, 200).
BURST = 300


def project_config() -> tuple[dict, dict]:
    """The CONFIG of the project's CHANNEL_LAYERS and its one host entry, as a dict of connection kwargs."""
    from django.conf import settings

    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "hotline.channel_layer.BoundedRedisChannelLayer", layer["BACKEND"]
    options = dict(layer.get("CONFIG", {}))
    (host,) = options["hosts"]
    return options, ({"address": host} if isinstance(host, str) else dict(host))


def project_layer(**host_overrides):
    """A fresh layer of the project's CHANNEL_LAYERS, its host entry changed by ``host_overrides``."""
    from hotline.channel_layer import BoundedRedisChannelLayer

    options, host = project_config()
    return BoundedRedisChannelLayer(**{**options, "hosts": [{**host, **host_overrides}]})


class SlowRedis:
    """A loopback TCP proxy in front of Redis that hands every reply over ``delay`` seconds late.

    What a consumer of a loaded daphne sees of a busy shared Redis: the answer
    to a blocking pop arrives some time after the pop's own timeout.
    """

    def __init__(self, redis_url: str):
        parts = urlsplit(redis_url)
        self.upstream = (parts.hostname, parts.port or 6379)
        self.redis_url = redis_url
        self.delay = 0.0
        self._server = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        """REDIS_URL (same database and options) pointed at the proxy."""
        parts = urlsplit(self.redis_url)
        netloc = parts.netloc.rsplit("@", 1)
        netloc[-1] = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return urlunsplit(parts._replace(netloc="@".join(netloc)))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        late: asyncio.Queue = asyncio.Queue()
        self._spawn(self._pump(client_reader, server_writer))
        self._spawn(self._hold_back(server_reader, late))
        self._spawn(self._hand_over(late, client_writer))

    @staticmethod
    async def _pump(reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _hold_back(self, reader, late: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(65536):
            late.put_nowait((loop.time() + self.delay, data))
        late.put_nowait((loop.time(), b""))

    @staticmethod
    async def _hand_over(late: asyncio.Queue, writer) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await late.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


def test_the_read_timeout_outlasts_the_blocking_pop(redis_url):
    """The invariant itself, should channels_redis change its pop timeout or the settings their value."""
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    _, host = project_config()
    assert settings.CHANNEL_LAYER_BLOCKING_POP_SECONDS == RedisChannelLayer.brpop_timeout
    read_timeout = host.get("socket_timeout", REDIS_PY_DEFAULT_READ_TIMEOUT)
    assert read_timeout is None or read_timeout > RedisChannelLayer.brpop_timeout  # None: reads never time out


@pytest.mark.slow
def test_a_receive_outlasts_its_blocking_pop_when_redis_answers_late(redis_url):
    # given: the project's layer behind a Redis that answers 1 s late
    proxy = SlowRedis(redis_url)
    delay = 1.0

    async def scenario():
        await proxy.start()
        layer = project_layer(address=proxy.url)
        sender = project_layer()  # the worker's layer, straight to Redis
        channel = await layer.new_channel()
        try:
            await layer.group_discard("infra-warm-up", channel)  # the pool's connection, opened without delay
            proxy.delay = delay

            # when: the consumer blocks on its empty channel past the old read timeout, then a message comes
            started = time.monotonic()
            receiving = asyncio.ensure_future(layer.receive(channel))
            # The pop is sent after the first delayed reply; its empty answer arrives 5 s + 1 s after that.
            await asyncio.sleep(delay + REDIS_PY_DEFAULT_READ_TIMEOUT + 0.5)
            await sender.send(channel, {"type": "ticket.changed", "number": "12345-0002"})
            message = await asyncio.wait_for(receiving, 20)

            # then: no redis TimeoutError on the way; the message after more than the old read timeout
            assert message == {"type": "ticket.changed", "number": "12345-0002"}
            assert time.monotonic() - started > REDIS_PY_DEFAULT_READ_TIMEOUT + delay
        finally:
            proxy.delay = 0.0
            await layer.close_pools()
            await sender.close_pools()
            await proxy.stop()

    async_to_sync(scenario)()


def test_a_burst_of_group_discards_on_one_layer_all_take_effect(redis_url):
    import redis.asyncio

    # given: BURST channels of one process in a department's group
    group = f"infra-burst-{uuid.uuid4().hex}"

    async def scenario():
        layer = project_layer()
        raw = redis.asyncio.Redis.from_url(redis_url)
        channels = [await layer.new_channel() for _ in range(BURST)]
        try:
            for channel in channels:
                await layer.group_add(group, channel)
            assert await raw.zcard(layer._group_key(group)) == BURST

            # when: all their sockets close at once, a group_discard each on the one shared pool
            pool = layer.connection(0).connection_pool
            cap = pool.max_connections
            assert cap < BURST
            busiest = 0

            async def watch():
                nonlocal busiest
                while True:
                    busiest = max(busiest, len(pool._in_use_connections) + len(pool._available_connections))
                    await asyncio.sleep(0)

            watcher = asyncio.ensure_future(watch())
            results = await asyncio.gather(*(layer.group_discard(group, c) for c in channels), return_exceptions=True)
            watcher.cancel()

            # then: none failed, the pool stayed within its cap, and group_send has nobody left to write to
            failures = [r for r in results if isinstance(r, BaseException)]
            assert not failures, f"{len(failures)} of {BURST} group_discard failed, first: {failures[0]!r}"
            assert 0 < busiest <= cap
            assert await raw.zcard(layer._group_key(group)) == 0
        finally:
            await raw.delete(layer._group_key(group))
            await raw.aclose()
            await layer.close_pools()

    async_to_sync(scenario)()
