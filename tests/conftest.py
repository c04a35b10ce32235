"""Test-wide settings and the fixtures for the real backing services.

``make test`` (deploy/run-tests.sh) starts PostgreSQL, Redis and Elasticsearch and
exports DATABASE_URL, REDIS_URL and ELASTICSEARCH_URL. A test that needs one of
them asks for ``services`` (all three), ``database_url``, ``redis_url`` or
``elasticsearch_url``: when the service is not configured or does not answer,
the test FAILS with a message saying how to start it. It is never skipped.
With CI=true the whole run stops at once unless all three are configured.

Each room keeps its own fixtures in tests/<room>/conftest.py.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

# Before Django loads the settings: tests run with DEBUG off, like production.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret-" + "0123456789" * 4)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Never write into the indices of a developer's own data.
os.environ.setdefault("SEARCH_INDEX_PREFIX", "test")
os.environ.setdefault("EMBEDDED_SEARCH_FILE", "search-tests.sqlite3")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

HOW_TO_START = (
    "run the suite with `make test`, or start the services and point the tests at them: "
    'bash deploy/services.sh start && eval "$(bash deploy/services.sh env)"'
)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing_services() -> list[str]:
    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        problems.append(f"DATABASE_URL is not PostgreSQL (the database engine is {engine})")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is unset (the channel layer is in-memory)")
    if not settings.ELASTICSEARCH_URL:
        problems.append("ELASTICSEARCH_URL is unset (search is the embedded backend)")
    return problems


def pytest_configure(config):
    if _ci():
        problems = _missing_services()
        if problems:
            raise pytest.UsageError("CI=true but " + "; ".join(problems) + ". " + HOW_TO_START)


def pytest_report_header(config):
    return [
        f"hotline: database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"REDIS_URL={settings.REDIS_URL or '-'}, ELASTICSEARCH_URL={settings.ELASTICSEARCH_URL or '-'}, "
        f"SEARCH_INDEX_PREFIX={settings.SEARCH_INDEX_PREFIX}"
    ]


@pytest.fixture(scope="session")
def database_url() -> str:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.fail(f"this test needs PostgreSQL, but the database engine is {engine}: {HOW_TO_START}", pytrace=False)
    return settings.DATABASE_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = settings.REDIS_URL
    if not url:
        pytest.fail(f"this test needs Redis, but REDIS_URL is unset: {HOW_TO_START}", pytrace=False)
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis at {url} does not answer ({exc}): {HOW_TO_START}", pytrace=False)
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    url = settings.ELASTICSEARCH_URL
    if not url:
        pytest.fail(f"this test needs Elasticsearch, but ELASTICSEARCH_URL is unset: {HOW_TO_START}", pytrace=False)
    from elasticsearch import Elasticsearch

    client = Elasticsearch([url], timeout=10, max_retries=0)
    try:
        status = client.cluster.health(request_timeout=10).get("status")
    except Exception as exc:
        pytest.fail(f"Elasticsearch at {url} does not answer ({exc}): {HOW_TO_START}", pytrace=False)
    finally:
        client.close()
    if status not in {"green", "yellow"}:
        pytest.fail(f"Elasticsearch at {url} is {status}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def services(database_url, redis_url, elasticsearch_url) -> SimpleNamespace:
    """All three real services, configured and answering (or the test fails)."""
    return SimpleNamespace(database_url=database_url, redis_url=redis_url, elasticsearch_url=elasticsearch_url)
