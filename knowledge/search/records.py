"""What is indexed, read from the database: the same records feed every backend.

The index is derived: a record is built from the database each time, so a
lost index is rebuilt with ``manage.py search_reindex`` and loses nothing.
A ticket's record never holds the citizen's name or phone, only the keyed
digest of the phone (``routing.models.phone_digest``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F

from knowledge import markup
from knowledge.models import Article, ArticleVersion
from routing.models import State, Ticket, path_ids

# Tickets whose answer the citizen got: similar-ticket suggestions show these with their reply.
RESOLVED_STATES = frozenset({State.REPLY_APPROVED, State.RATED, State.CLOSED})
BATCH_SIZE = 2000


@dataclass
class ArticleRecord:
    id: int
    slug: str
    title: str
    body: str
    keywords: str
    category_id: int
    category_ids: list[int]
    category: str
    department_id: int
    department: str
    valid_from: date | None
    valid_until: date | None
    reviewed_at: datetime | None
    published_at: datetime | None
    version: int


@dataclass
class TicketRecord:
    id: int
    number: str
    phone_digest: str
    title: str
    text: str
    address: str
    answer: str
    state: str
    resolved: bool
    type: str
    category_ids: list[int]
    category: str
    department_ids: list[int]
    department: str
    registered_at: datetime


def _article_versions():
    return (
        ArticleVersion.objects.filter(article__live=True, number=F("article__published_version"))
        .select_related("article", "category", "department")
        .order_by("article_id")
    )


def _article_record(version: ArticleVersion) -> ArticleRecord:
    article = version.article
    return ArticleRecord(
        id=article.pk,
        slug=article.slug,
        title=version.title,
        body=markup.text_of_html(version.body_html) if version.body_html else markup.plain_text(version.body),
        keywords=version.keywords,
        category_id=version.category_id,
        category_ids=path_ids(version.category.path),
        category=version.category.name,
        department_id=version.department_id,
        department=version.department.name,
        valid_from=version.valid_from,
        valid_until=version.valid_until,
        reviewed_at=article.reviewed_at,
        published_at=version.published_at,
        version=version.number,
    )


def article_record(article_id: int) -> ArticleRecord | None:
    """The record of a live article, or None when it must not be found (draft only, archived, deleted)."""
    version = _article_versions().filter(article_id=article_id).first()
    return _article_record(version) if version is not None else None


def article_records(*, ids: list[int] | None = None) -> Iterator[ArticleRecord]:
    """Every live article's record (or those of ``ids`` that are live)."""
    versions = _article_versions()
    if ids is not None:
        versions = versions.filter(article_id__in=ids)
    for version in versions.iterator(chunk_size=500):
        yield _article_record(version)


def article_count() -> int:
    return Article.objects.live().count()


def changed_article_ids(since: datetime) -> list[int]:
    """Articles changed since ``since``, live or not (a rebuild's catch-up re-indexes or removes them)."""
    return list(Article.objects.filter(updated_at__gte=since).values_list("pk", flat=True))


_TICKET_FIELDS = (
    "id", "number", "title", "description", "address", "state", "type", "resolution", "reply_text",
    "category__path", "category__name", "department_id", "department__name", "parent_department_id",
    "citizen__phone_digest", "registered_at",
)  # fmt: skip


def _ticket_record(row: dict, assisting: list[int]) -> TicketRecord:
    resolved = row["state"] in RESOLVED_STATES and bool(row["resolution"] or row["reply_text"])
    departments = [pk for pk in (row["department_id"], row["parent_department_id"], *assisting) if pk]
    title = row["title"] or ""
    description = row["description"] or ""
    text = description if description.startswith(title) else f"{title}\n{description}"
    return TicketRecord(
        id=row["id"],
        number=row["number"],
        phone_digest=row["citizen__phone_digest"] or "",
        title=title or description[:40],
        text=text,
        address=row["address"] or "",
        answer=(row["resolution"] or row["reply_text"] or "") if resolved else "",
        state=row["state"],
        resolved=resolved,
        type=row["type"],
        category_ids=path_ids(row["category__path"]),
        category=row["category__name"] or "",
        department_ids=sorted(set(departments)),
        department=row["department__name"] or "",
        registered_at=row["registered_at"],
    )


def _assisting(ticket_ids: list[int]) -> dict[int, list[int]]:
    through = Ticket.assisting_departments.through
    found: dict[int, list[int]] = {}
    for ticket_id, department_id in through.objects.filter(ticket_id__in=ticket_ids).values_list("ticket_id", "department_id"):
        found.setdefault(ticket_id, []).append(department_id)
    return found


def ticket_record(ticket_id: int) -> TicketRecord | None:
    row = Ticket.objects.filter(pk=ticket_id).values(*_TICKET_FIELDS).first()
    if row is None:
        return None
    return _ticket_record(row, _assisting([ticket_id]).get(ticket_id, []))


def ticket_records(*, ids: list[int] | None = None, batch_size: int = BATCH_SIZE) -> Iterator[TicketRecord]:
    """Every ticket's record (or those of ``ids``), read in primary-key batches: constant memory for millions of rows."""
    if ids is not None:
        for start in range(0, len(ids), batch_size):
            chunk = sorted(ids[start : start + batch_size])
            yield from ticket_records_of(chunk)
        return
    tickets = Ticket.objects.order_by("pk")
    last = 0
    while True:
        rows = list(tickets.filter(pk__gt=last).values(*_TICKET_FIELDS)[:batch_size])
        if not rows:
            return
        assisting = _assisting([row["id"] for row in rows])
        for row in rows:
            yield _ticket_record(row, assisting.get(row["id"], []))
        last = rows[-1]["id"]


def ticket_records_of(ids: list[int]) -> list[TicketRecord]:
    rows = list(Ticket.objects.filter(pk__in=ids).order_by("pk").values(*_TICKET_FIELDS))
    assisting = _assisting([row["id"] for row in rows])
    return [_ticket_record(row, assisting.get(row["id"], [])) for row in rows]


def ticket_count() -> int:
    return Ticket.objects.count()


def changed_ticket_ids(since: datetime) -> list[int]:
    """Tickets changed since ``since`` (a rebuild's catch-up indexes them again)."""
    return list(Ticket.objects.filter(updated_at__gte=since).values_list("pk", flat=True))
