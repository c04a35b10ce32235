"""The Redis channel layer, with a bounded connection pool that waits instead of failing.

channels_redis (4.3) gives each process one redis-py ``ConnectionPool`` shared by all
its consumers, a connection per command in flight. That pool raises
``MaxConnectionsError`` the moment all its connections are busy, so a burst — a
``group_discard`` for each of thousands of sockets closing at once — lost commands,
and raising the cap only moves the failure to Redis' own ``maxclients``.

This layer builds a ``BlockingConnectionPool`` instead: at most ``max_connections``
connections per process (so Redis' clients can be planned: processes × the cap), and a
command waits up to ``timeout`` seconds for a free one. A burst queues and drains.
Configured per host in ``CHANNEL_LAYERS`` (``hotline/settings.py``).
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class BoundedRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address", None)
        if address is None:  # a Sentinel or keyword host: as channels_redis builds it
            return super().create_pool(index)
        return BlockingConnectionPool.from_url(address, **host)
