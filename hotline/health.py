"""``/healthz``: 200 when the database, channel layer and search answer, 503 naming what is down."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from knowledge import search

log = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _channel_layer() -> None:
    if not settings.REDIS_URL:
        return  # the in-memory layer lives in this process
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


CHECKS = {"database": _database, "channel_layer": _channel_layer, "search": search.ping}


@never_cache
@require_GET
def healthz(request):
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # a health check reports every failure, whatever it is
            log.warning("healthz: %s is down: %s", name, exc)
            results[name] = "down"
        else:
            results[name] = "ok"
    down = [name for name, value in results.items() if value != "ok"]
    if down:
        results["down"] = down
    return JsonResponse(results, status=503 if down else 200)
