"""The project's Redis channel layer (hotline/channel_layer.py): one PUBLISH per group, fan-out in the process.

Each test builds the layer from ``settings.CHANNEL_LAYERS`` (the project's own configuration). The
counting tests run against a Redis server of their own (``tests.trust.procs.RedisServer``), so that
no other test run's commands are counted:

- a ``group_send`` to a group of many sockets in two processes is one ``PUBLISH``, and every socket
  gets it (the core layer wrote one copy per socket);
- a burst of disconnects (the failure the WebSocket benchmark met with the core layer's pool) leaves
  no member behind and opens no connections;
- a consumer idle past its connection's read timeout still gets its next message;
- two Redis databases of one server do not hear each other (pub/sub ignores the database).

See docs/BENCHMARKS.md, "WebSocket".
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync

from tests.trust.procs import RedisServer

MEMBERS = 300  # sockets of one department in one process


def project_layer(redis_url: str, **host_overrides):
    """A fresh layer as ``settings.CHANNEL_LAYERS`` builds it, for ``redis_url``."""
    from django.conf import settings

    from hotline.channel_layer import FanOutChannelLayer

    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "hotline.channel_layer.FanOutChannelLayer", layer["BACKEND"]
    options = dict(layer["CONFIG"])
    (host,) = options["hosts"]
    return FanOutChannelLayer(**{**options, "hosts": [{**host, "address": redis_url, **host_overrides}]})


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def _stat(raw, command: str) -> int:
    stats = await raw.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_group_send_to_hundreds_of_sockets_in_two_processes_is_one_publish(own_redis):
    import redis.asyncio

    group = f"department-{uuid.uuid4().hex[:8]}"

    async def scenario():
        daphne_a, daphne_b, worker = project_layer(own_redis.url), project_layer(own_redis.url), project_layer(own_redis.url)
        raw = redis.asyncio.Redis.from_url(own_redis.url)
        try:
            channels_a = [await daphne_a.new_channel() for _ in range(MEMBERS)]
            channels_b = [await daphne_b.new_channel() for _ in range(MEMBERS // 3)]
            for layer, channels in ((daphne_a, channels_a), (daphne_b, channels_b)):
                for channel in channels:
                    await layer.group_add(group, channel)
            ((_name, subscribers),) = await raw.pubsub_numsub(daphne_a.subscription(group))
            assert subscribers == 2, "one subscription per process, not per socket"

            before = await _stat(raw, "publish")
            await worker.group_send(group, {"type": "ticket.changed", "frame": '{"number": "20261207-000001"}'})
            assert await _stat(raw, "publish") - before == 1

            received = await asyncio.wait_for(
                asyncio.gather(*[daphne_a.receive(c) for c in channels_a], *[daphne_b.receive(c) for c in channels_b]), 10
            )
            assert len(received) == MEMBERS + MEMBERS // 3
            assert all(message["frame"] == '{"number": "20261207-000001"}' for message in received)
        finally:
            await raw.aclose()
            for layer in (daphne_a, daphne_b, worker):
                await layer.flush()

    async_to_sync(scenario)()


def test_a_burst_of_disconnects_leaves_no_member_and_opens_no_connections(own_redis):
    import redis.asyncio

    group = f"department-{uuid.uuid4().hex[:8]}"

    async def scenario():
        layer, worker = project_layer(own_redis.url), project_layer(own_redis.url)
        raw = redis.asyncio.Redis.from_url(own_redis.url)
        try:
            channels = [await layer.new_channel() for _ in range(MEMBERS)]
            for channel in channels:
                await layer.group_add(group, channel)
            clients_before = len(await raw.client_list())

            # when: every socket closes at once (daphne runs their disconnects concurrently)
            await asyncio.gather(*[layer.group_discard(group, channel) for channel in channels])

            # then: nobody is left in the group, in the process or in Redis, and no connection was opened for it
            ((_name, subscribers),) = await raw.pubsub_numsub(layer.subscription(group))
            assert subscribers == 0
            assert len(await raw.client_list()) <= clients_before
            await worker.group_send(group, {"type": "ticket.changed", "frame": "{}"})
            idle = [asyncio.ensure_future(layer.receive(c)) for c in channels[:5]]
            done, _pending = await asyncio.wait(idle, timeout=0.5)
            assert not done, "a socket that left its group still got its messages"
            for task in idle:
                task.cancel()
            await asyncio.gather(*idle, return_exceptions=True)
        finally:
            await raw.aclose()
            await layer.flush()
            await worker.flush()

    async_to_sync(scenario)()


@pytest.mark.slow
def test_a_consumer_idle_past_its_read_timeout_still_gets_its_next_message(own_redis):
    async def scenario():
        layer = project_layer(own_redis.url, socket_timeout=1)
        worker = project_layer(own_redis.url)
        channel = await layer.new_channel()
        await layer.group_add("department-idle", channel)
        try:
            receiving = asyncio.ensure_future(layer.receive(channel))
            await asyncio.sleep(2.5)  # well past the 1 s read timeout, nothing sent
            assert not receiving.done()
            await worker.group_send("department-idle", {"type": "ticket.changed", "frame": "{}"})
            assert (await asyncio.wait_for(receiving, 5))["frame"] == "{}"
        finally:
            await layer.flush()
            await worker.flush()

    async_to_sync(scenario)()


def test_two_databases_of_one_redis_do_not_hear_each_other(own_redis):
    base = own_redis.url.rsplit("/", 1)[0]

    async def scenario():
        city, other, worker = project_layer(f"{base}/1"), project_layer(f"{base}/2"), project_layer(f"{base}/1")
        channel = await city.new_channel()
        await city.group_add("department-1", channel)
        try:
            await other.group_send("department-1", {"type": "ticket.changed", "frame": "other"})
            await worker.group_send("department-1", {"type": "ticket.changed", "frame": "ours"})
            assert (await asyncio.wait_for(city.receive(channel), 5))["frame"] == "ours"
        finally:
            for layer in (city, other, worker):
                await layer.flush()

    async_to_sync(scenario)()


def test_a_lost_subscription_ends_the_waiting_receives_and_a_new_one_works_once_redis_is_back(own_redis):
    from hotline.channel_layer import SubscriptionLost

    async def scenario():
        layer, worker = project_layer(own_redis.url), project_layer(own_redis.url)
        channel = await layer.new_channel()
        await layer.group_add("department-lost", channel)
        try:
            receiving = asyncio.ensure_future(layer.receive(channel))
            await asyncio.sleep(0.3)
            own_redis.kill()
            # the consumer's receive raises (daphne then closes the socket and the page reconnects)
            with pytest.raises(SubscriptionLost):
                await asyncio.wait_for(receiving, 10)
            own_redis.start()
            again = await layer.new_channel()
            await layer.group_add("department-lost", again)
            await worker.flush()  # its connection died with the server
            await worker.group_send("department-lost", {"type": "ticket.changed", "frame": "back"})
            assert (await asyncio.wait_for(layer.receive(again), 5))["frame"] == "back"
        finally:
            await layer.flush()
            await worker.flush()

    async_to_sync(scenario)()
