"""The demo knowledge base: every article loads, published with a version; loading twice changes nothing."""

from __future__ import annotations

import json

import pytest

from knowledge import demo, search
from knowledge.models import Article, ArticleState, ArticleVersion
from knowledge.search import ArticleQuery
from routing.models import Category, Department

pytestmark = pytest.mark.django_db


def reference_data(articles: list[dict]) -> None:
    """What the routing demo loader creates: categories by name per level, departments by code."""
    for entry in articles:
        parent = None
        for name in entry["category"].split("/"):
            parent = Category.objects.filter(parent=parent, name=name).first() or Category.objects.create(
                code=f"demo-{Category.objects.count() + 1}", name=name, parent=parent
            )
        Department.objects.get_or_create(code=entry["department"], defaults={"name": entry["department"]})


def test_the_fixture_is_a_real_knowledge_base():
    articles = demo.read_articles()
    assert len(articles) >= 100
    slugs = [a["slug"] for a in articles]
    assert len(set(slugs)) == len(slugs)
    for entry in articles:
        assert entry["title"].strip() and len(entry["body"]) >= 100, entry["slug"]
        assert len(entry["category"].split("/")) in {2, 3}, entry["slug"]
    text = json.dumps(articles, ensure_ascii=False)
    for topic in ("社保", "医保", "公积金", "户籍", "入学", "物业", "噪", "占道经营", "路灯", "停水", "停电", "燃气", "公交", "消费", "违", "拖欠工资"):
        assert topic in text, topic


def test_load_is_idempotent_and_searchable(search_backend):
    articles = demo.read_articles()
    reference_data(articles)
    first = demo.load()
    assert first["articles_created"] == len(articles) and first["skipped"] == []
    assert Article.objects.filter(state=ArticleState.PUBLISHED, live=True).count() == len(articles)
    assert ArticleVersion.objects.count() == len(articles)
    second = demo.load()
    assert second == {"articles_created": 0, "articles_updated": 0, "articles_unchanged": len(articles), "skipped": []}
    assert ArticleVersion.objects.count() == len(articles)
    search.refresh()
    everything = search.search_articles(ArticleQuery(include_expired=True, size=1))
    assert everything.count == len(articles)
    assert search.search_articles(ArticleQuery(text="公积金租房提取")).results[0].slug.startswith("housing-fund-withdrawal-rent")


def test_a_changed_article_becomes_a_new_version(tmp_path):
    articles = demo.read_articles()[:3]
    reference_data(articles)
    path = tmp_path / "articles.json"
    path.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    demo.load(path)
    articles[0]["body"] += "\n\n## 补充\n新增一段说明。"
    path.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    result = demo.load(path)
    assert (result["articles_updated"], result["articles_unchanged"]) == (1, 2)
    article = Article.objects.get(slug=articles[0]["slug"])
    assert article.published_version == 2 and "+新增一段说明。" in article.live_version().diff


def test_articles_without_their_category_or_department_are_skipped(tmp_path):
    articles = demo.read_articles()[:3]
    reference_data(articles)
    articles[1]["category"] = "不存在的分类/下级"
    articles[2]["department"] = "no-such-department"
    path = tmp_path / "articles.json"
    path.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    result = demo.load(path)
    assert result["articles_created"] == 1
    assert result["skipped"] == [articles[1]["slug"], articles[2]["slug"]]
    assert not Article.objects.filter(slug__in=result["skipped"]).exists()
