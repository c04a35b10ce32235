"""Each real backing service is really used, and /healthz tells when one is down.

These tests need the services of ``deploy/services.sh`` (``make test`` starts them);
they fail, never skip, without them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

ROOT = Path(__file__).resolve().parents[2]
# The server version the suite was written against (deploy/README.md); a city on
# another cluster sets this to its own while it upgrades the pins.
EXPECTED_ELASTICSEARCH_VERSION = os.environ.get("EXPECTED_ELASTICSEARCH_VERSION", "7.10.2")


def free_port() -> int:
    """A loopback TCP port nothing listens on (closed again right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


# --- PostgreSQL -------------------------------------------------------------------


@pytest.mark.django_db
def test_postgresql_round_trip(services):
    from django.contrib.auth.models import Group
    from django.db import connection

    assert connection.vendor == "postgresql"
    group = Group.objects.create(name="基础设施-市城市管理局")
    assert Group.objects.get(pk=group.pk).name == "基础设施-市城市管理局"

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_database(), current_setting('server_encoding')")
        version, database, encoding = cursor.fetchone()
        # jsonb and ->> exist only on PostgreSQL: this is no SQLite in disguise.
        cursor.execute("CREATE TEMPORARY TABLE infra_probe (id serial PRIMARY KEY, data jsonb NOT NULL)")
        cursor.execute("INSERT INTO infra_probe (data) VALUES (%s::jsonb) RETURNING id", ['{"诉求": "路灯不亮"}'])
        (row_id,) = cursor.fetchone()
        cursor.execute("SELECT data->>'诉求' FROM infra_probe WHERE id = %s", [row_id])
        assert cursor.fetchone() == ("路灯不亮",)
    assert version.startswith("PostgreSQL ")
    assert database.startswith("test_")
    assert encoding == "UTF8"


# --- Redis channel layer ---------------------------------------------------------


@pytest.mark.django_db  # consumers close stale database connections between messages
def test_group_send_reaches_two_consumers_over_redis_as_one_publish(redis_url):
    """Two consumers join one group; a message sent from another layer instance
    (as the worker process would) reaches both, through Redis, as one PUBLISH to
    one subscription of their process (hotline/channel_layer.py)."""
    import redis.asyncio
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
    from channels.testing import WebsocketCommunicator

    from hotline.channel_layer import FanOutChannelLayer

    class Listener(AsyncJsonWebsocketConsumer):
        async def connect(self):
            self.group = self.scope["path"].rstrip("/").rsplit("/", 1)[-1]
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def ticket_changed(self, event):
            await self.send_json({"channel": self.channel_name, "number": event["number"]})

    group = f"infra-test-{uuid.uuid4().hex}"
    layer = get_channel_layer()
    assert isinstance(layer, FanOutChannelLayer), type(layer)

    async def subscriptions(raw) -> int:
        (_name, count), = await raw.pubsub_numsub(layer.subscription(group))
        return count

    async def scenario():
        app = Listener.as_asgi()
        first = WebsocketCommunicator(app, f"/ws/infra/{group}/")
        second = WebsocketCommunicator(app, f"/ws/infra/{group}/")
        sender = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)  # another process's layer
        raw = redis.asyncio.Redis.from_url(redis_url)
        try:
            assert (await first.connect())[0]
            assert (await second.connect())[0]
            # Two members, one subscription in Redis: the payload crosses Redis once for this process.
            assert await subscriptions(raw) == 1

            await sender.group_send(group, {"type": "ticket.changed", "number": "12345-0001"})
            got = [await first.receive_json_from(timeout=5), await second.receive_json_from(timeout=5)]
            assert {m["number"] for m in got} == {"12345-0001"}
            assert len({m["channel"] for m in got}) == 2, "each consumer has its own channel"
            assert await first.receive_nothing(timeout=0.2)
            assert await second.receive_nothing(timeout=0.2)
        finally:
            await first.disconnect()
            await second.disconnect()
            assert await subscriptions(raw) == 0
            await raw.aclose()
            await sender.flush()
            await layer.flush()

    async_to_sync(scenario)()


# --- Elasticsearch ----------------------------------------------------------------


def test_elasticsearch_index_and_search_round_trip(elasticsearch_url, settings):
    from elasticsearch_dsl import Document, Index, Keyword, Text, connections

    alias = f"infra-{uuid.uuid4().hex}"
    index_name = f"{settings.SEARCH_INDEX_PREFIX}-infra-{uuid.uuid4().hex[:12]}"
    client = connections.create_connection(alias=alias, hosts=[elasticsearch_url], timeout=20)
    assert client.info()["version"]["number"] == EXPECTED_ELASTICSEARCH_VERSION

    class Notice(Document):
        title = Text()
        department = Keyword()

        class Index:
            name = index_name

    try:
        Notice.init(using=alias)
        Notice(title="老旧小区加装电梯补贴申请指南", department="市住房和城乡建设局").save(using=alias)
        Notice(title="占道经营投诉的处理流程", department="市城市管理局").save(using=alias, refresh=True)

        hits = Notice.search(using=alias).query("match", title="电梯").execute()
        assert hits.hits.total.value == 1
        assert hits[0].department == "市住房和城乡建设局"
        assert Notice.search(using=alias).filter("term", department="市城市管理局").count() == 1
        assert client.indices.exists(index=index_name)
    finally:
        Index(index_name, using=alias).delete(ignore_unavailable=True)
        connections.remove_connection(alias)
    assert not client.indices.exists(index=index_name)


# --- /healthz ---------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_ok_when_all_services_answer(client, services):
    status, body = health(client)
    assert status == 200, body
    assert body["database"] == body["channel_layer"] == body["search"] == "ok"
    assert "down" not in body


@pytest.mark.django_db
def test_healthz_503_when_redis_stops(client, settings, services, tmp_path):
    """A throwaway redis-server of this test's own (the shared one keeps running)."""
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (deploy/redis.sh installs it)"
    port = free_port()
    log = open(tmp_path / "redis.log", "w")
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        import redis

        probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        for _ in range(100):
            try:
                if probe.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        probe.close()

        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        status, body = health(client)
        assert status == 200, body  # it really checks the server we point it at

        proc.terminate()
        proc.wait(timeout=10)
        status, body = health(client)
        assert status == 503, body
        assert body["channel_layer"] == "down"
        assert body["down"] == ["channel_layer"]
        assert body["database"] == body["search"] == "ok"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.django_db
def test_healthz_503_when_elasticsearch_is_unreachable(client, settings, services):
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    status, body = health(client)
    assert status == 503, body
    assert body["search"] == "down"
    assert body["down"] == ["search"]
    assert body["database"] == body["channel_layer"] == "ok"


def test_healthz_503_when_the_database_is_unreachable(client, services, django_db_blocker):
    from django.db import connections

    connection = connections["default"]
    with django_db_blocker.unblock():
        connection.close()
        original_port = connection.settings_dict["PORT"]
        connection.settings_dict["PORT"] = str(free_port())
        try:
            status, body = health(client)
        finally:
            connection.close()
            connection.settings_dict["PORT"] = original_port
    assert status == 503, body
    assert body["database"] == "down"
    assert body["down"] == ["database"]
    assert body["channel_layer"] == body["search"] == "ok"


# --- Settings from the environment --------------------------------------------------

_SETTINGS_PROBE = "import django; from django.conf import settings; settings.DATABASES; print('settings ok')"


def _settings_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "TWILIO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="hotline.settings",
        SECRET_KEY="tests-only-not-a-secret-" + "0123456789" * 4,
        ALLOWED_HOSTS="localhost",
        DEBUG="false",
    )
    env.update(overrides)
    return env


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _SETTINGS_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_well_formed_environment_loads_the_settings():
    result = _load_settings(_settings_env(REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL="postgres://u@127.0.0.1:1/db"))
    assert result.returncode == 0, result.stderr
    assert "settings ok" in result.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "ftp://x"),
        ("DATABASE_URL", "nonsense"),
        ("DEBUG", "maybe"),
        ("ELASTICSEARCH_URL", "localhost:9200"),
        ("DATABASE_URL", "postgres://hotline@127.0.0.1:notaport/hotline"),
    ],
)
def test_malformed_variable_stops_the_start_naming_it(name, value):
    result = _load_settings(_settings_env(**{name: value}))
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line, result.stderr
    assert name in last_line, result.stderr
