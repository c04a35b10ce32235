"""Demo knowledge base for 示范市: ``knowledge/fixtures/demo_articles.json``, loaded idempotently.

Each article is upserted by its slug and published through the ordinary
steps (draft → in review → published, by the system), so it has a version
like any other; the index is updated through the outbox, delivered at the
end. Categories are matched by their names along the ``l1/l2/l3`` path and
departments by code: the routing demo loader creates both and runs first.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

from django.db import transaction

from knowledge import actions, search
from knowledge.actions import ArticleContent
from knowledge.errors import SearchUnavailable
from knowledge.models import Article
from routing import outbox
from routing.models import Category, Department

log = logging.getLogger(__name__)

ARTICLES_FILE = Path(__file__).resolve().parent / "fixtures" / "demo_articles.json"


def read_articles(path: Path = ARTICLES_FILE) -> list[dict]:
    """The demo articles as written in the fixture file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class CategoryPaths:
    """Finds a category by the names along its path (``劳动和社会保障/城镇职工社会保险/职工养老保险``)."""

    def __init__(self) -> None:
        self._by_parent: dict[tuple[int | None, str], Category] = {}
        for category in Category.objects.all():
            self._by_parent.setdefault((category.parent_id, category.name), category)

    def find(self, path: str) -> Category | None:
        node: Category | None = None
        for name in [part.strip() for part in path.split("/") if part.strip()]:
            node = self._by_parent.get((node.pk if node else None, name))
            if node is None:
                return None
        return node


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _keywords(value) -> str:
    if isinstance(value, list):
        return " ".join(str(k).strip() for k in value if str(k).strip())
    return str(value or "")


def load(path: Path = ARTICLES_FILE) -> dict:
    """Upsert every demo article by slug and publish it; then deliver the index updates.

    Articles whose category path or department code does not exist are
    skipped (and named in the result); loading twice changes nothing.
    """
    entries = read_articles(path)
    categories = CategoryPaths()
    departments = {d.code: d for d in Department.objects.all()}
    created = updated = unchanged = 0
    skipped: list[str] = []
    with transaction.atomic():
        for entry in entries:
            category = categories.find(entry["category"])
            department = departments.get(entry["department"])
            if category is None or department is None:
                missing = f"category {entry['category']!r}" if category is None else f"department {entry['department']!r}"
                log.warning("demo article %s skipped: no %s", entry["slug"], missing)
                skipped.append(entry["slug"])
                continue
            content = ArticleContent(
                title=entry["title"],
                body=entry["body"],
                category=category,
                keywords=_keywords(entry.get("keywords")),
                valid_from=_date(entry.get("valid_from")),
                valid_until=_date(entry.get("valid_until")),
            )
            existed = Article.objects.filter(slug=entry["slug"]).exists()
            _article, changed = actions.import_published_article(slug=entry["slug"], content=content, department=department)
            if not changed:
                unchanged += 1
            elif existed:
                updated += 1
            else:
                created += 1
    # The index follows through the outbox, as for any publication.
    outbox.drain(max_rounds=100)
    try:
        search.refresh()
    except SearchUnavailable as exc:  # the worker delivers the updates once search is back
        log.warning("demo articles saved; search is not reachable yet: %s", exc)
    return {"articles_created": created, "articles_updated": updated, "articles_unchanged": unchanged, "skipped": skipped}
