"""The knowledge room's public search interface (one contract, two backends)."""

from __future__ import annotations

from django.conf import settings


def ping() -> None:
    """Raise when the configured search backend does not answer."""
    if settings.SEARCH_BACKEND == "elasticsearch":
        from elasticsearch import Elasticsearch

        client = Elasticsearch([settings.ELASTICSEARCH_URL], timeout=2, max_retries=0)
        health = client.cluster.health(request_timeout=2)
        if health.get("status") not in {"green", "yellow"}:
            raise RuntimeError(f"elasticsearch cluster is {health.get('status')}")
    else:
        import sqlite3

        with sqlite3.connect(settings.EMBEDDED_SEARCH_PATH, timeout=2) as db:
            db.execute("SELECT 1").fetchone()
