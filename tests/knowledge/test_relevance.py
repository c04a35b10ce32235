"""Measured relevance: the demo knowledge base against queries written the way callers speak.

``relevance_queries.json`` holds colloquial questions (with typos and
synonyms), each with the slugs of its relevant articles. Both backends are
scored with MRR (the mean of 1/rank of the first relevant article, 0 beyond
the tenth) and nDCG@5 (binary gains); the floors below sit slightly under
what was measured, so relevance cannot silently drop. Run with ``-s`` to
print the figures (docs/KNOWLEDGE.md quotes them).
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest

from knowledge import demo, search
from knowledge.search import ArticleQuery
from routing.models import Category, Department

QUERIES_FILE = Path(__file__).resolve().parent / "relevance_queries.json"
# A fixed day inside every relevant article's validity, so the figures do not move with the clock.
EVALUATION_DAY = date(2026, 12, 1)
DEPTH = 10

# Measured values are in docs/KNOWLEDGE.md; the floors are a little below them.
# Measured (83 queries): Elasticsearch MRR 0.892, nDCG@5 0.851, top-1 85.5 %;
# embedded MRR 0.897, nDCG@5 0.873, top-1 85.5 %.
FLOORS = {
    "elasticsearch": {"mrr": 0.86, "ndcg5": 0.82, "top1": 0.80},
    "embedded": {"mrr": 0.86, "ndcg5": 0.84, "top1": 0.80},
}


def _ensure_reference_data(articles: list[dict]) -> None:
    """Categories by name along each path and departments by code, as the routing demo loader makes them."""
    for entry in articles:
        parent = None
        for level, name in enumerate(entry["category"].split("/"), start=1):
            node = Category.objects.filter(parent=parent, name=name).first()
            if node is None:
                node = Category.objects.create(code=f"rel-{Category.objects.count() + 1}", name=name, parent=parent)
            parent = node
        Department.objects.get_or_create(code=entry["department"], defaults={"name": f"示范市{entry['department']}"})


def ndcg_at(ranked: list[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, slug in enumerate(ranked[:k]) if slug in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    for i, slug in enumerate(ranked, start=1):
        if slug in relevant:
            return 1.0 / i
    return 0.0


def evaluate(queries: list[dict]) -> dict:
    """MRR and nDCG@5 over ``queries``, plus the queries whose first answer is not relevant."""
    rr, ndcg, misses = [], [], []
    for item in queries:
        page = search.search_articles(ArticleQuery(text=item["query"], size=DEPTH, on=EVALUATION_DAY, highlight=False))
        ranked = [hit.slug for hit in page.results]
        relevant = set(item["relevant"])
        rr.append(reciprocal_rank(ranked, relevant))
        ndcg.append(ndcg_at(ranked, relevant, 5))
        if not ranked or ranked[0] not in relevant:
            misses.append((item["query"], item["relevant"], ranked[:3]))
    n = len(queries)
    top1 = sum(1 for value in rr if value == 1.0)
    return {"mrr": sum(rr) / n, "ndcg5": sum(ndcg) / n, "top1": top1 / n, "queries": n, "misses": misses}


@pytest.fixture
def demo_knowledge(db, search_backend):
    articles = demo.read_articles()
    _ensure_reference_data(articles)
    result = demo.load()
    assert result["skipped"] == []
    search.refresh()
    return articles


def test_relevance_set_is_well_formed(demo_knowledge):
    queries = json.loads(QUERIES_FILE.read_text(encoding="utf-8"))
    slugs = {a["slug"] for a in demo_knowledge}
    assert len(queries) >= 40
    for item in queries:
        assert item["query"].strip() and item["relevant"], item
        assert set(item["relevant"]) <= slugs, item


def test_relevance_floor(demo_knowledge, search_backend):
    queries = json.loads(QUERIES_FILE.read_text(encoding="utf-8"))
    figures = evaluate(queries)
    print(
        f"\n[{search_backend}] queries={figures['queries']} MRR={figures['mrr']:.3f} "
        f"nDCG@5={figures['ndcg5']:.3f} top-1={figures['top1']:.1%}"
    )
    for query, relevant, got in figures["misses"]:
        print(f"  miss: {query} → want {relevant}, got {got}")
    floor = FLOORS[search_backend]
    assert figures["mrr"] >= floor["mrr"]
    assert figures["ndcg5"] >= floor["ndcg5"]
    # "the right article at the top for most of the relevance set"
    assert figures["top1"] >= floor["top1"]
