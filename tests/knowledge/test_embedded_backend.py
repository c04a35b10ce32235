"""The embedded backend's own file: shared by processes (daphne workers read, the outbox worker writes)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import date

import pytest

from knowledge.search import ArticleQuery, embedded
from knowledge.search.records import ArticleRecord


def record(n: int) -> ArticleRecord:
    return ArticleRecord(
        id=n, slug=f"a-{n}", title=f"住房公积金问答{n}", body="租房提取公积金的条件。", keywords="公积金", category_id=1,
        category_ids=[1], category="住房公积金", department_id=1, department="公积金中心", valid_from=None,
        valid_until=None, reviewed_at=None, published_at=None, version=1,
    )  # fmt: skip


def _writer(path: str, start: int, count: int) -> None:
    from django.conf import settings

    settings.EMBEDDED_SEARCH_PATH = path
    for n in range(start, start + count):
        embedded.index_record("articles", record(n))


def test_the_file_uses_wal(settings):
    embedded.index_record("articles", record(1))
    with sqlite3.connect(settings.EMBEDDED_SEARCH_PATH) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_other_processes_write_while_this_one_searches(settings):
    # given: two writer processes (like the outbox worker) on the same file
    embedded.index_record("articles", record(1))
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_writer, args=(str(settings.EMBEDDED_SEARCH_PATH), 1000 * i, 60)) for i in (1, 2)]
    for writer in writers:
        writer.start()
    # when: this process keeps searching meanwhile
    counts = []
    while any(w.is_alive() for w in writers):
        counts.append(embedded.search_articles(ArticleQuery(text="公积金", on=date(2026, 1, 1))).count)
    for writer in writers:
        writer.join(timeout=60)
    # then: no errors, counts only grow, and every write arrived
    assert all(w.exitcode == 0 for w in writers)
    assert counts == sorted(counts)
    assert embedded.search_articles(ArticleQuery(text="公积金")).count == 121


def test_a_rebuild_switches_generations_in_one_step(settings):
    embedded.index_record("articles", record(1))
    before = embedded.current_index("articles")
    report = embedded.rebuild("articles", [record(2), record(3)], chunk_size=1)
    assert report["indexed"] == 2
    assert embedded.current_index("articles") != before
    assert sorted(h.id for h in embedded.search_articles(ArticleQuery(text="公积金")).results) == [2, 3]
    with sqlite3.connect(settings.EMBEDDED_SEARCH_PATH) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "articles_doc_1" not in tables and "articles_doc_2" in tables  # the old generation is gone


def test_a_failed_rebuild_keeps_the_current_index(settings):
    embedded.index_record("articles", record(1))
    before = embedded.current_index("articles")

    def broken():
        yield record(2)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        embedded.rebuild("articles", broken(), chunk_size=1)
    assert embedded.current_index("articles") == before
    assert [h.id for h in embedded.search_articles(ArticleQuery(text="公积金")).results] == [1]
