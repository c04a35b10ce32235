"""Index updates go through the outbox: after commit, retried while the backend is down, nothing lost."""

from __future__ import annotations

import pytest
from django.utils import timezone

from knowledge import search
from knowledge.search import ArticleQuery, TicketQuery
from routing import outbox
from routing.models import OutboxMessage

pytestmark = pytest.mark.django_db


def pending(kind: str):
    return OutboxMessage.objects.filter(kind=kind, status=OutboxMessage.Status.PENDING)


def make_due_now() -> None:
    OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).update(next_attempt_at=timezone.now())


def test_handlers_are_registered_for_both_kinds():
    from knowledge import handlers

    assert outbox.handler_for("search.article") is handlers.deliver_article_update
    assert outbox.handler_for("search.ticket") is handlers.deliver_ticket_update


def test_a_down_elasticsearch_delays_updates_and_loses_none(elasticsearch_backend, settings, publish, new_ticket):
    # given: Elasticsearch does not answer
    reachable = settings.ELASTICSEARCH_URL
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
    article = publish(title="住房公积金租房提取", index=False)
    ticket = new_ticket(description="路灯不亮")
    # when: the worker tries
    stats = outbox.drain()
    # then: the handlers raised, the messages wait for a retry with the error recorded
    assert stats.retried >= 2 and stats.failed == 0
    for kind in ("search.article", "search.ticket"):
        message = pending(kind).get()
        assert message.attempts == 1
        assert "ConnectionError" in message.last_error
    # when: Elasticsearch is back and the retry is due
    settings.ELASTICSEARCH_URL = reachable
    make_due_now()
    outbox.drain()
    search.refresh()
    # then: everything arrived
    assert not pending("search.article").exists() and not pending("search.ticket").exists()
    assert [h.id for h in search.search_articles(ArticleQuery(text="公积金租房")).results] == [article.pk]
    assert [h.number for h in search.search_tickets(TicketQuery(text="路灯")).results] == [ticket.number]


def test_an_unwritable_embedded_index_is_retried_too(settings, tmp_path, publish):
    good = settings.EMBEDDED_SEARCH_PATH
    settings.EMBEDDED_SEARCH_PATH = tmp_path / "no-such-dir" / "search.sqlite3"
    article = publish(title="住房公积金租房提取", index=False)
    assert outbox.drain().retried == 1
    settings.EMBEDDED_SEARCH_PATH = good
    make_due_now()
    assert outbox.drain().delivered == 1
    assert [h.id for h in search.search_articles(ArticleQuery(text="公积金")).results] == [article.pk]


@pytest.mark.parametrize("payload", [{}, {"ticket_id": "7"}, {"ticket_id": True}, {"ticket_id": -1}])
def test_a_malformed_payload_is_skipped(payload):
    from django.db import transaction

    with transaction.atomic():
        outbox.enqueue("search.ticket", payload, key=f"bad:{payload!r}")
    stats = outbox.drain()
    assert stats.skipped == 1
    assert OutboxMessage.objects.get(kind="search.ticket").status == OutboxMessage.Status.SKIPPED


def test_delivering_twice_leaves_one_document(search_backend, publish, deliver):
    article = publish(title="住房公积金租房提取")
    search.index_article(article.pk)
    search.index_article(article.pk)
    search.refresh()
    assert search.search_articles(ArticleQuery(text="公积金")).count == 1
