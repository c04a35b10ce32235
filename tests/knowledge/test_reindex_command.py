"""``manage.py search_reindex``: a bulk rebuild behind the alias, with a progress bar."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from knowledge import search
from knowledge.search import ArticleQuery, TicketQuery

pytestmark = pytest.mark.django_db


def test_rebuild_everything_from_the_database(search_backend, publish, new_ticket, deliver):
    # given: documents in the database, an index that lost them
    publish(author="gongjijin", category="fund", title="住房公积金租房提取", body="按月提取支付房租。")
    publish(title="门诊报销", body="门诊费用按比例报销。", index=False)
    new_ticket(description="路灯不亮")
    deliver()
    search.delete_all()
    before = search.current_index("articles")
    # when
    out, err = io.StringIO(), io.StringIO()
    call_command("search_reindex", stdout=out, stderr=err)
    search.refresh()
    # then
    assert search.search_articles(ArticleQuery(text="公积金")).count == 1
    assert search.search_articles(ArticleQuery(text="门诊报销")).count == 1
    assert search.search_tickets(TicketQuery(text="路灯")).count == 1
    assert search.current_index("articles") != before
    report = out.getvalue()
    assert "articles: 2 documents" in report and "tickets: 1 documents" in report and "docs/s" in report
    assert "100%" in err.getvalue()  # the progress bar ran to the end


def test_rebuild_one_kind_only(search_backend, publish, new_ticket, deliver):
    publish(title="住房公积金租房提取")
    new_ticket(description="路灯不亮")
    deliver()
    tickets_before = search.current_index("tickets")
    out = io.StringIO()
    call_command("search_reindex", "--only", "articles", "--no-progress", "--chunk-size", "1", "--workers", "2", stdout=out, stderr=io.StringIO())
    assert "tickets" not in out.getvalue()
    assert search.current_index("tickets") == tickets_before


def test_a_down_backend_is_a_clear_command_error(elasticsearch_backend, settings):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="unavailable|ConnectionError"):
        call_command("search_reindex", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_bad_chunk_size_is_refused():
    with pytest.raises(CommandError):
        call_command("search_reindex", "--chunk-size", "0", stdout=io.StringIO(), stderr=io.StringIO())


def test_worker_processes_build_the_same_index(search_backend, publish, new_ticket, deliver):
    publish(author="gongjijin", category="fund", title="住房公积金租房提取", body="按月提取支付房租。")
    for i in range(7):
        new_ticket(description=f"第{i}号路灯不亮")
    deliver()
    reports = search.rebuild(workers=2, chunk_size=3)
    search.refresh()
    assert (reports["articles"]["indexed"], reports["tickets"]["indexed"]) == (1, 7)
    assert search.search_articles(ArticleQuery(text="公积金")).count == 1
    assert search.search_tickets(TicketQuery(text="路灯")).count == 7
