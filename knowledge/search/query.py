"""What a search asks and what it answers: the same values for every backend."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils.translation import gettext as _

from knowledge.errors import InvalidInput

MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 500
TICKET_NUMBER = re.compile(r"^\d{8}-\d{6}$")
# What a typed phone number looks like: digits with optional +, spaces and dashes.
PHONE_LIKE = re.compile(r"^\+?[\d\s-]{7,20}$")


def encode_cursor(values: list) -> str:
    """An opaque continuation token for ``search_after``-style paging."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise InvalidInput(_("cursor 无效"), details={"cursor": [_("无法识别")]}) from None
    if not isinstance(values, list) or not values:
        raise InvalidInput(_("cursor 无效"), details={"cursor": [_("无法识别")]})
    return values


def _page_args(page: int, size: int) -> None:
    if not isinstance(page, int) or page < 1:
        raise InvalidInput(_("page 须为正整数"), details={"page": [_("须为正整数")]})
    if not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(_("page_size 须在 1 到 %(n)d 之间") % {"n": MAX_PAGE_SIZE}, details={"page_size": [_("超出范围")]})


@dataclass
class ArticleQuery:
    """A knowledge search: free text, filters, and one page of results.

    ``category_id`` matches the category and its whole subtree. Articles
    outside their validity period on ``on`` (today by default) are left out
    unless ``include_expired``. A ``cursor`` from a previous page continues
    after it (no limit on depth); otherwise ``page`` counts from 1.
    """

    text: str = ""
    category_id: int | None = None
    department_id: int | None = None
    include_expired: bool = False
    on: date | None = None
    page: int = 1
    size: int = 10
    cursor: str | None = None
    highlight: bool = True

    def __post_init__(self) -> None:
        self.text = (self.text or "").strip()
        if len(self.text) > MAX_QUERY_LENGTH:
            raise InvalidInput(_("查询内容最多 %(n)d 字") % {"n": MAX_QUERY_LENGTH}, details={"q": [_("过长")]})
        _page_args(self.page, self.size)


@dataclass
class TicketQuery:
    """A ticket search: text, an exact number, the digest of a phone, an address.

    ``department_ids`` limits the result to tickets those departments may see
    (as lead, sub-dispatching or assisting department); ``None`` means no limit.
    The ticket list's search (``ticket_matches``) also filters by ``states``,
    ``category_id`` (the category and its subtree) and ``number_prefix``, asks for
    ``every_word`` of the text (a list narrows; a search ranks) and reads the
    newest first.
    """

    text: str = ""
    number: str = ""
    phone_digest: str = ""
    address: str = ""
    resolved_only: bool = False
    department_ids: list[int] | None = None
    states: list[str] | None = None
    category_id: int | None = None
    number_prefix: str = ""
    every_word: bool = False
    newest_first: bool = False
    exclude_id: int | None = None
    page: int = 1
    size: int = 10
    cursor: str | None = None
    highlight: bool = True

    def __post_init__(self) -> None:
        self.text = (self.text or "").strip()
        self.number = (self.number or "").strip()
        self.address = (self.address or "").strip()
        if len(self.text) > MAX_QUERY_LENGTH or len(self.address) > MAX_QUERY_LENGTH:
            raise InvalidInput(_("查询内容最多 %(n)d 字") % {"n": MAX_QUERY_LENGTH}, details={"q": [_("过长")]})
        _page_args(self.page, self.size)

    @property
    def ordered_by_relevance(self) -> bool:
        """With words to match, best first (unless asked for the newest first); otherwise (number, phone) the newest first."""
        return bool(self.text or self.address) and not self.newest_first


@dataclass
class ArticleHit:
    id: int
    slug: str
    title: str
    highlight: str
    category: str
    category_id: int
    department: str
    department_id: int
    valid_from: date | None
    valid_until: date | None
    reviewed_at: datetime | None
    version: int
    score: float

    def as_dict(self, *, stale_before: datetime | None = None) -> dict:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "highlight": self.highlight,
            "category": self.category,
            "category_id": self.category_id,
            "department": self.department,
            "department_id": self.department_id,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "version": self.version,
            "stale": stale_before is not None and (self.reviewed_at is None or self.reviewed_at < stale_before),
            "score": round(self.score, 4),
        }


@dataclass
class TicketHit:
    id: int
    number: str
    title: str
    highlight: str
    state: str
    resolved: bool
    answer: str
    category: str
    department: str
    address: str
    registered_at: datetime | None
    score: float

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "highlight": self.highlight,
            "state": self.state,
            "resolved": self.resolved,
            "answer": self.answer,
            "category": self.category,
            "department": self.department,
            "address": self.address,
            "registered_at": self.registered_at.isoformat() if self.registered_at else None,
            "score": round(self.score, 4),
        }


@dataclass
class Matches:
    """The ids of the tickets that match, newest first, at most the limit asked for.

    ``total`` counts every match when ``exact``; otherwise there are more than ``total``."""

    ids: list[int]
    total: int
    exact: bool = True


@dataclass
class Page:
    """One page of hits; ``next_cursor`` continues after it (None on the last page)."""

    count: int
    results: list = field(default_factory=list)
    next_cursor: str | None = None
    count_exact: bool = True  # False: at least ``count`` (a large ticket search stops counting)
