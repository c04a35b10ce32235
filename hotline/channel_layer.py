"""The Redis channel layer: a live update crosses Redis once per group, not once per socket.

channels_redis' ``RedisChannelLayer`` (the "core" layer) keeps each group as a set of
channel names in Redis and ``group_send`` writes the message into every member
channel's own list, so a queue change for a department of 2,000 open pages was 2,000
copies in Redis and 2,000 blocking pops, each its own round trip (p95 1.2 s to 1,000
clients, docs/BENCHMARKS.md). Its per-process pool of connections also ran out in
bursts (``MaxConnectionsError`` on thousands of disconnects).

This layer is channels_redis' pub/sub layer: each process subscribes once per group
that has a member in it (one connection per event loop and Redis host), ``group_send``
is one ``PUBLISH`` of the payload, and each process hands it to its own members in
memory. Group membership lives in the process (a socket that closes leaves its groups
without a Redis command), so a burst of disconnects costs Redis nothing but, for a
group's last member, one ``UNSUBSCRIBE``.

What it gives up is what the site does not use: a message for a channel nobody in any
process listens to is dropped, not kept for a minute (a page that reconnects reloads its
lists, ``frontend/static/js/hotline.js``); and there is no per-channel capacity.

The two classes below override channels_redis' per-loop layer and its shard connection
(``_do_receiving``, ``_shards``), written against the pinned channels-redis 4.3.0: an upgrade
must run tests/infra/test_channel_layer.py and tests/trust/test_faults.py.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _close_redis, _wrap_close

logger = logging.getLogger(__name__)


class SubscriptionLost(ConnectionError):
    """The Redis connection that carried this process's subscriptions failed: what a channel waited for may be lost."""


class _Shard(RedisSingleShardConnection):
    """channels_redis' subscription to one Redis host. Where channels_redis logs a failed read and
    quietly tries again, a page whose consumer waits on the lost subscription would stay open and
    silent; so a failed read here ends every receive of the process instead: daphne closes those sockets, the pages
    reconnect and reload their lists (``frontend/static/js/hotline.js``), and a step taken while
    Redis was down reaches them from the outbox, which retries."""

    async def _do_receiving(self):
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    self._receive_message(await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1))
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, asyncio.TimeoutError, GeneratorExit):
                raise
            except Exception as exc:
                logger.warning("channel layer: the Redis subscription failed (%s); ending this process's receives", exc)
                async with self._lock:  # the next subscribe starts a new connection and receiver
                    redis, self._redis, self._pubsub, self._subscribed_to = self._redis, None, None, set()
                    self._receive_task = None
                self.channel_layer.lose_everything(exc)
                if redis is not None:
                    try:
                        await _close_redis(redis)
                    except Exception:  # the connection is gone already
                        pass
                return


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    def lose_everything(self, exc: Exception) -> None:
        """Hand each waiting channel the failure in place of a message (its ``receive`` raises it) and
        forget every channel and group of this process: their consumers end, and the pages reconnect."""
        for queue in self.channels.values():
            queue.put_nowait(SubscriptionLost(str(exc)))
        self.channels = {}
        self.groups = {}


class FanOutChannelLayer(RedisPubSubChannelLayer):
    """``CHANNEL_LAYERS["default"]`` when ``REDIS_URL`` is set (``hotline/settings.py``).

    Pub/sub channels are global to a Redis server, whatever the database of the URL, so the
    layer's names carry the database of its (first) host's address unless a ``prefix`` is
    given: two deployments (or test runs) on one Redis with different databases do not hear
    each other's updates, and every process configured with the same URL shares the names."""

    def __init__(self, *args, hosts=None, prefix: str | None = None, **kwargs):
        prefix = prefix or prefix_for(_address(hosts))
        super().__init__(*args, hosts=hosts, prefix=prefix, **kwargs)
        self.prefix = prefix

    def _get_layer(self):
        # channels_redis' own, with the loop layer above (a lost subscription ends the receives).
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    def deserialize(self, message):
        if isinstance(message, SubscriptionLost):
            raise message
        return super().deserialize(message)

    def subscription(self, group: str) -> str:
        """The Redis pub/sub channel that carries ``group``'s messages (channels_redis' naming)."""
        return f"{self.prefix}__group__{group}"


def _address(hosts) -> str:
    first = (hosts or ["redis://localhost:6379"])[0]
    if isinstance(first, dict):
        return first.get("address", "")
    return first if isinstance(first, str) else ""


def prefix_for(redis_url: str) -> str:
    """``hotline-db3.`` for ``redis://host:port/3``: the layer's names for that database."""
    database = urlsplit(redis_url).path.strip("/") or "0"
    return f"hotline-db{database}."
