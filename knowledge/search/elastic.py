"""The Elasticsearch backend (elasticsearch-dsl; tested on server 7.10.2).

Two indices, each a versioned index behind an alias:
``<prefix>-articles`` → ``<prefix>-articles-<timestamp>`` (and the same for
tickets). Writes go to the alias with ``require_alias``, so a missing alias
never auto-creates a stray concrete index; a rebuild fills a new index and
swaps the alias in one atomic ``update_aliases`` call, so search answers all
along.

Chinese text is analysed twice: the built-in ``cjk`` analyzer (character
bigrams) on the original text, and a whitespace analyzer on the same text
segmented by jieba in Python, whose search side runs the hotline synonym list
(``knowledge/data/synonyms.txt``) through a ``synonym_graph`` filter. Titles
weigh more than bodies.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from elasticsearch import Elasticsearch, helpers
from elasticsearch import exceptions as es_exceptions
from elasticsearch_dsl import Boolean, Date, Document, Index, Integer, Keyword, Long, Q, Search, Text, analyzer, connections, token_filter

from knowledge import vocabulary
from knowledge.errors import InvalidInput, SearchUnavailable
from knowledge.search import parallel
from knowledge.search.query import ArticleHit, ArticleQuery, Matches, Page, TicketHit, TicketQuery, decode_cursor, encode_cursor
from knowledge.search.records import ArticleRecord, TicketRecord

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
HIGHLIGHT_SIZE = 120
# A numbered page is reached by walking search_after in window-sized steps; beyond this many
# hits, callers page with the cursor instead (one step per page, no limit).
MAX_WALK = 1_000_000
# Ticket searches count matches up to this many (then "10000+"): an exact count over a million
# tickets would score every match, and agents read the first page anyway.
TICKET_COUNT_LIMIT = 10_000

# jieba-segmented text arrives space separated: split on spaces; synonyms only on the search side,
# so a change of the list needs no reindex of documents.
SEGMENTED = analyzer("hotline_segmented", tokenizer="whitespace", filter=["lowercase"])
SYNONYMS = token_filter("hotline_synonyms", type="synonym_graph", synonyms=vocabulary.synonyms().rules(), lenient=False)
SEGMENTED_SEARCH = analyzer("hotline_segmented_search", tokenizer="whitespace", filter=["lowercase", SYNONYMS])


def _segmented_text() -> Text:
    return Text(analyzer=SEGMENTED, search_analyzer=SEGMENTED_SEARCH)


def _date_value(value):
    return value.isoformat() if value is not None else None


def article_source(record: ArticleRecord) -> dict:
    """The indexed fields of an article: its text twice (as is, and segmented by jieba)."""
    return {
        "id": record.id,
        "slug": record.slug,
        "title": record.title,
        "title_seg": vocabulary.segmented(record.title),
        "keywords": record.keywords,
        "keywords_seg": vocabulary.segmented(record.keywords),
        "body": record.body,
        "body_seg": vocabulary.segmented(record.body),
        "category_id": record.category_id,
        "category_ids": record.category_ids,
        "category": record.category,
        "department_id": record.department_id,
        "department": record.department,
        "valid_from": _date_value(record.valid_from),
        "valid_until": _date_value(record.valid_until),
        "reviewed_at": _date_value(record.reviewed_at),
        "published_at": _date_value(record.published_at),
        "version": record.version,
    }


def ticket_source(record: TicketRecord) -> dict:
    """The indexed fields of a ticket; the phone only as its keyed digest, never the citizen's name."""
    return {
        "id": record.id,
        "number": record.number,
        "phone_digest": record.phone_digest or None,
        "title": record.title,
        "text": record.text,
        "text_seg": vocabulary.segmented(record.text),
        "address": record.address,
        "address_seg": vocabulary.segmented(record.address),
        "answer": record.answer,
        "answer_seg": vocabulary.segmented(record.answer),
        "state": record.state,
        "resolved": record.resolved,
        "type": record.type,
        "category_ids": record.category_ids,
        "category": record.category,
        "department_ids": record.department_ids,
        "department": record.department,
        "registered_at": _date_value(record.registered_at),
    }


SOURCES = {"articles": article_source, "tickets": ticket_source}


class ArticleDocument(Document):
    """A live article's published version."""

    id = Long()
    slug = Keyword()
    title = Text(analyzer="cjk")
    title_seg = _segmented_text()
    keywords = Text(analyzer="cjk")
    keywords_seg = _segmented_text()
    body = Text(analyzer="cjk")
    body_seg = _segmented_text()
    category_id = Integer()
    category_ids = Integer()
    category = Keyword(index=False)
    department_id = Integer()
    department = Keyword(index=False)
    valid_from = Date()
    valid_until = Date()
    reviewed_at = Date()
    published_at = Date()
    version = Integer()

    @classmethod
    def from_record(cls, record: ArticleRecord) -> "ArticleDocument":
        doc = cls(**article_source(record))
        doc.meta.id = str(record.id)
        return doc


class TicketDocument(Document):
    """A ticket as agents search it: no citizen name or phone, only the phone's keyed digest."""

    id = Long()
    number = Keyword()
    phone_digest = Keyword()
    title = Text(analyzer="cjk")
    text = Text(analyzer="cjk")
    text_seg = _segmented_text()
    address = Text(analyzer="cjk")
    address_seg = _segmented_text()
    answer = Text(analyzer="cjk")
    answer_seg = _segmented_text()
    state = Keyword()
    resolved = Boolean()
    type = Keyword()
    category_ids = Integer()
    category = Keyword(index=False)
    department_ids = Integer()
    department = Keyword(index=False)
    registered_at = Date()

    @classmethod
    def from_record(cls, record: TicketRecord) -> "TicketDocument":
        doc = cls(**ticket_source(record))
        doc.meta.id = str(record.id)
        return doc


DOCUMENTS = {"articles": ArticleDocument, "tickets": TicketDocument}


# --- connection and names ---------------------------------------------------------
def client() -> Elasticsearch:
    """This process's client for ``ELASTICSEARCH_URL`` (one per URL, created on first use)."""
    url = settings.ELASTICSEARCH_URL
    if not url:
        raise SearchUnavailable("ELASTICSEARCH_URL is not set")
    alias = f"hotline:{url}"
    try:
        return connections.get_connection(alias)
    except KeyError:
        return connections.create_connection(alias=alias, hosts=[url], timeout=TIMEOUT_SECONDS, max_retries=1, retry_on_timeout=False)


def alias_name(kind: str) -> str:
    """The alias searches and writes use, e.g. ``hotline-articles``."""
    return f"{settings.SEARCH_INDEX_PREFIX}-{kind}"


def _new_index_name(kind: str) -> str:
    return f"{alias_name(kind)}-{timezone.now():%Y%m%d%H%M%S%f}"


def _index(name: str, kind: str) -> Index:
    index = Index(name)
    index.settings(
        number_of_shards=1,
        number_of_replicas=0,
        max_result_window=getattr(settings, "SEARCH_MAX_RESULT_WINDOW", 10000),
    )
    index.document(DOCUMENTS[kind])
    return index


@contextlib.contextmanager
def unavailable_as_error():
    """Turn 'Elasticsearch does not answer' into ``SearchUnavailable`` (503 for the API)."""
    try:
        yield
    except (es_exceptions.ConnectionError, es_exceptions.ConnectionTimeout) as exc:
        raise SearchUnavailable(f"elasticsearch unreachable: {exc.__class__.__name__}") from exc
    except es_exceptions.TransportError as exc:
        if isinstance(exc.status_code, int) and (exc.status_code >= 500 or exc.status_code == 429):
            raise SearchUnavailable(f"elasticsearch error {exc.status_code}: {exc.error}") from exc
        raise


def ping() -> None:
    health = client().cluster.health(request_timeout=2)
    if health.get("status") not in {"green", "yellow"}:
        raise RuntimeError(f"elasticsearch cluster is {health.get('status')}")


def refresh() -> None:
    """Make every write so far visible to search (tests and the benchmark)."""
    es = client()
    with unavailable_as_error():
        for kind in DOCUMENTS:
            es.indices.refresh(index=alias_name(kind), ignore_unavailable=True)


def ensure_index(kind: str) -> str:
    """Create the index and its alias when the alias does not exist yet; returns the alias."""
    es = client()
    alias = alias_name(kind)
    if es.indices.exists_alias(name=alias):
        return alias
    if es.indices.exists(index=alias):
        # A concrete index under the alias's name (an old deployment): the rebuild replaces it.
        raise SearchUnavailable(f"{alias} is an index, not an alias: run manage.py search_reindex")
    name = _new_index_name(kind)
    _index(name, kind).create(using=es)
    try:
        es.indices.update_aliases(body={"actions": [{"add": {"index": name, "alias": alias}}]})
    except es_exceptions.TransportError:
        es.indices.delete(index=name, ignore=[404])
        if not es.indices.exists_alias(name=alias):
            raise
    else:
        return alias
    es.indices.delete(index=name, ignore=[404])  # another process created the alias first
    return alias


# Aliases this process has seen exist, so a write does not ask first every time.
# Only an optimisation: a write that finds the alias gone creates it and retries.
_known_aliases: set[tuple[str, str]] = set()


def _alias_for_writing(kind: str) -> str:
    key = (settings.ELASTICSEARCH_URL, alias_name(kind))
    if key not in _known_aliases:
        ensure_index(kind)
        _known_aliases.add(key)
    return key[1]


def _write(kind: str, operation: Callable[[str], None]) -> None:
    alias = _alias_for_writing(kind)
    try:
        operation(alias)
    except (es_exceptions.NotFoundError, es_exceptions.RequestError) as exc:
        # require_alias refuses to write to a missing alias (instead of auto-creating an index).
        if exc.error != "index_not_found_exception" and "alias" not in str(exc.info).lower():
            raise
        _known_aliases.discard((settings.ELASTICSEARCH_URL, alias))
        operation(_alias_for_writing(kind))


def index_record(kind: str, record) -> None:
    """Add or replace one document (after commit, from the outbox; errors propagate → retried)."""
    doc = DOCUMENTS[kind].from_record(record)
    _write(kind, lambda alias: doc.save(using=client(), index=alias, require_alias=True, validate=False))


def index_many(kind: str, records: list) -> None:
    """Add or replace many documents through the alias with bulk requests."""
    if not records:
        return

    def bulk(alias: str) -> None:
        actions = ({"_index": alias, "_id": str(record.id), "_source": SOURCES[kind](record)} for record in records)
        for _ok, _item in helpers.streaming_bulk(client(), actions, chunk_size=500, raise_on_error=True, require_alias=True):
            pass

    _write(kind, bulk)


def delete_record(kind: str, record_id: int) -> None:
    """Remove one document (a missing one is fine: the result is the same)."""
    _write(kind, lambda alias: client().delete(index=alias, id=str(record_id), ignore=[404]))


def clear() -> None:
    """Remove every document but keep the indices (fast; tests start from empty indices)."""
    es = client()
    for kind in DOCUMENTS:
        alias = alias_name(kind)
        if es.indices.exists_alias(name=alias):
            es.delete_by_query(index=alias, body={"query": {"match_all": {}}}, conflicts="proceed", refresh=True)


def delete_all() -> None:
    """Remove every index and alias of this prefix (tests and a full reset)."""
    es = client()
    for kind in DOCUMENTS:
        alias = alias_name(kind)
        _known_aliases.discard((settings.ELASTICSEARCH_URL, alias))
        es.indices.delete(index=f"{alias}-*", ignore=[404], expand_wildcards="all")
        es.indices.delete(index=alias, ignore=[404])


# --- bulk rebuild -----------------------------------------------------------------
def rebuild(kind: str, records: Iterable, *, on_progress: Callable[[int], None] | None = None, chunk_size: int = 500, workers: int = 1) -> dict:
    """Fill a new index from ``records`` with streaming bulk requests, then swap the alias to it.

    Searches keep hitting the old index until the swap, which is atomic.
    ``workers`` > 1 builds the documents (jieba) in that many processes.
    Returns the new index's name and counts.
    """
    with unavailable_as_error():
        return _rebuild(kind, records, on_progress=on_progress, chunk_size=chunk_size, workers=workers)


def _rebuild(kind: str, records: Iterable, *, on_progress, chunk_size: int, workers: int) -> dict:
    es = client()
    name = _new_index_name(kind)
    index = _index(name, kind)
    index.create(using=es)
    # No refreshes while filling: faster, and nobody searches this index yet.
    es.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}})

    def actions() -> Iterator[dict]:
        for record_id, source in parallel.built(SOURCES[kind], records, workers=workers):
            yield {"_index": name, "_id": str(record_id), "_source": source}

    indexed = 0
    started = time.monotonic()
    try:
        for ok, item in helpers.streaming_bulk(es, actions(), chunk_size=chunk_size, max_chunk_bytes=8 * 1024 * 1024, raise_on_error=True, request_timeout=120):
            indexed += 1
            if on_progress is not None:
                on_progress(1)
        es.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
        es.indices.refresh(index=name)
    except Exception:
        es.indices.delete(index=name, ignore=[404])
        raise
    seconds = time.monotonic() - started
    swap_alias(kind, name)
    return {"index": name, "indexed": indexed, "seconds": seconds}


def swap_alias(kind: str, name: str) -> None:
    """Point the alias at ``name`` in one atomic call, then drop the indices it pointed at before."""
    es = client()
    alias = alias_name(kind)
    current = list(es.indices.get_alias(name=alias, ignore=[404]).keys()) if es.indices.exists_alias(name=alias) else []
    if es.indices.exists(index=alias) and not current:
        es.indices.delete(index=alias)  # a stray concrete index holding the alias's name
    actions = [{"remove": {"index": old, "alias": alias}} for old in current if old != name]
    actions.append({"add": {"index": name, "alias": alias}})
    es.indices.update_aliases(body={"actions": actions})
    for old in [i for i in es.indices.get(index=f"{alias}-*", ignore=[404]).keys() if i != name]:
        es.indices.delete(index=old, ignore=[404])


def current_index(kind: str) -> str | None:
    """The concrete index behind the alias now (None before the first write)."""
    es = client()
    if not es.indices.exists_alias(name=alias_name(kind)):
        return None
    names = list(es.indices.get_alias(name=alias_name(kind)).keys())
    return names[0] if names else None


# --- searching --------------------------------------------------------------------
def _optional_range(field: str, op: str, value) -> Q:
    """``field`` is missing (open-ended) or satisfies ``op value``."""
    return Q("bool", should=[Q("range", **{field: {op: value}}), Q("bool", must_not=Q("exists", field=field))], minimum_should_match=1)


def _highlighted(search: Search, text: str, *, field: str, also: list[str]) -> Search:
    """An HTML-escaped snippet of ``field`` with ``<em>`` around the query words and their synonyms."""
    highlight_query = Q("multi_match", query=vocabulary.expanded_query(text), fields=[field, *also])
    return search.highlight_options(
        encoder="html", pre_tags=["<em>"], post_tags=["</em>"], fragment_size=HIGHLIGHT_SIZE,
        number_of_fragments=1, highlight_query=highlight_query.to_dict(),
    ).highlight(field, no_match_size=HIGHLIGHT_SIZE)  # fmt: skip


def _merge_marks(fragment: str) -> str:
    # Bigram matches come as neighbouring marks: <em>医疗</em><em>保险</em> reads better as one.
    return fragment.replace("</em><em>", "")


def _article_text_query(text: str) -> Q | None:
    words = vocabulary.query_words(text)
    if not words:
        return None
    joined = " ".join(words)
    return Q(
        "bool",
        should=[
            Q("multi_match", query=joined, fields=["title_seg^3", "keywords_seg^3", "body_seg"], type="most_fields"),
            Q("multi_match", query=joined, fields=["title", "keywords", "body^0.5"], type="most_fields"),
        ],
        minimum_should_match=1,
    )


def _page(search: Search, *, page: int, size: int, cursor: str | None, sort: list, count_up_to: int | bool = True) -> tuple[Search, int]:
    """Apply paging: a cursor continues with ``search_after``; a page beyond the result window walks there.

    ``count_up_to``: ``True`` counts every hit; a number stops counting there (the count is then a lower
    bound), which lets Elasticsearch skip documents that cannot make the page.
    """
    search = search.sort(*sort).extra(track_total_hits=count_up_to)
    if cursor:
        return search.extra(search_after=decode_cursor(cursor), size=size), 0
    offset = (page - 1) * size
    window = getattr(settings, "SEARCH_MAX_RESULT_WINDOW", 10000)
    if offset + size <= window:
        return search.extra(from_=offset, size=size), offset
    # Deep page: walk with search_after over sort values only, then fetch the page after them.
    total = search.extra(size=0, track_total_hits=True).execute().hits.total.value
    if offset >= total:
        return search.extra(size=0), offset
    if offset > MAX_WALK:
        raise InvalidInput(
            _("页码过大：请用上一页结果中的 next_cursor 继续翻页"), details={"page": [_("最多翻到第 %(n)d 条之后") % {"n": MAX_WALK}]}
        )
    after = None
    skipped = 0
    while skipped < offset:
        step = min(window, offset - skipped)
        walker = search.source(False).extra(size=step)
        if after is not None:
            walker = walker.extra(search_after=after)
        hits = walker.execute().hits
        if not hits:
            break
        skipped += len(hits)
        after = list(hits[-1].meta.sort)
    if skipped < offset or after is None:
        return search.extra(size=0), offset
    return search.extra(search_after=after, size=size), offset


def _next_cursor(hits, size: int, offset: int) -> str | None:
    total = hits.total
    if len(hits) < size or (total.relation == "eq" and offset + len(hits) >= total.value):
        return None
    return encode_cursor(list(hits[-1].meta.sort))


def _as_date(value) -> date | None:
    """A date field of a hit (raw hits carry the JSON string)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def search_articles(query: ArticleQuery) -> Page:
    es = client()
    search = Search(using=es, index=alias_name("articles"))
    filters = []
    if query.category_id:
        filters.append(Q("term", category_ids=query.category_id))
    if query.department_id:
        filters.append(Q("term", department_id=query.department_id))
    if not query.include_expired:
        day = (query.on or timezone.localdate()).isoformat()
        filters += [_optional_range("valid_from", "lte", day), _optional_range("valid_until", "gte", day)]
    text_query = _article_text_query(query.text)
    search = search.query(Q("bool", must=[text_query] if text_query else [Q("match_all")], filter=filters))
    with unavailable_as_error():
        try:
            search, offset = _page(search, page=query.page, size=query.size, cursor=query.cursor, sort=[{"_score": "desc"}, {"id": "asc"}])
            # Highlights only for the page itself (not for a deep page's walk).
            if query.highlight and text_query is not None:
                search = _highlighted(search, query.text, field="body", also=["title"])
            response = search.source(excludes=["body", "body_seg", "title_seg", "keywords_seg"]).execute()
        except es_exceptions.NotFoundError:
            ensure_index("articles")
            return Page(count=0)
    hits = response.hits
    results = []
    for hit in hits:
        fragments = getattr(getattr(hit.meta, "highlight", None), "body", None)
        highlight = _merge_marks(fragments[0]) if fragments else ""
        results.append(
            ArticleHit(
                id=int(hit.id),
                slug=hit.slug,
                title=hit.title,
                highlight=highlight,
                category=getattr(hit, "category", ""),
                category_id=hit.category_id,
                department=getattr(hit, "department", ""),
                department_id=hit.department_id,
                valid_from=_as_date(getattr(hit, "valid_from", None)),
                valid_until=_as_date(getattr(hit, "valid_until", None)),
                reviewed_at=_as_datetime(getattr(hit, "reviewed_at", None)),
                version=getattr(hit, "version", 0),
                score=float(hit.meta.score or 0.0),
            )
        )
    return Page(count=hits.total.value, results=results, next_cursor=_next_cursor(hits, query.size, offset), count_exact=hits.total.relation == "eq")


def _ticket_search(query: TicketQuery) -> tuple[Search, list[str]]:
    """The search for ``query`` (filters and words, no sort or paging) and the words it looks for."""
    search = Search(using=client(), index=alias_name("tickets"))
    filters = []
    if query.number:
        filters.append(Q("term", number=query.number))
    if query.number_prefix:
        filters.append(Q("prefix", number=query.number_prefix))
    if query.phone_digest:
        filters.append(Q("term", phone_digest=query.phone_digest))
    if query.resolved_only:
        filters.append(Q("term", resolved=True))
    if query.department_ids is not None:
        filters.append(Q("terms", department_ids=list(query.department_ids) or [-1]))
    if query.states is not None:
        filters.append(Q("terms", state=list(query.states) or ["-"]))
    if query.category_id is not None:
        filters.append(Q("term", category_ids=int(query.category_id)))
    must_not = [Q("term", id=query.exclude_id)] if query.exclude_id else []
    must = []
    words = vocabulary.query_words(query.text)
    if words:
        # Only the segmented fields (with synonyms): over a million tickets the bigram clause
        # that helps articles costs five times the time of the rest (docs/BENCHMARKS.md).
        fields = ["text_seg^2", "address_seg", "answer_seg"]
        if query.every_word:
            # Each word (or a synonym) in the text, the address or the answer.
            must.append(Q("multi_match", query=" ".join(words), fields=fields, type="cross_fields", operator="and"))
        else:
            must.append(Q("multi_match", query=" ".join(words), fields=fields, type="most_fields"))
    address_words = vocabulary.query_words(query.address)
    if address_words:
        # Every address word (or a synonym) must be there.
        must.append(Q("match", address_seg={"query": " ".join(address_words), "operator": "and"}))
    return search.query(Q("bool", must=must or [Q("match_all")], filter=filters, must_not=must_not)), words


def ticket_matches(query: TicketQuery, *, limit: int, offset: int = 0, count_up_to: int = 0) -> Matches:
    search, _words = _ticket_search(query)
    # Ids only, newest first: no scores (filter order), no source, counting stops at what was asked.
    count = max(offset + limit, count_up_to)
    search = search.sort({"registered_at": "desc"}, {"id": "desc"}).source(False).extra(from_=offset, size=limit, track_total_hits=count)
    with unavailable_as_error():
        try:
            hits = search.execute().hits
        except es_exceptions.NotFoundError:
            ensure_index("tickets")
            return Matches(ids=[], total=0)
    return Matches(ids=[int(hit.meta.id) for hit in hits], total=hits.total.value, exact=hits.total.relation == "eq")


def search_tickets(query: TicketQuery) -> Page:
    search, words = _ticket_search(query)
    if query.ordered_by_relevance:
        sort = [{"_score": "desc"}, {"registered_at": "desc"}, {"id": "desc"}]
    else:
        sort = [{"registered_at": "desc"}, {"id": "desc"}]
    with unavailable_as_error():
        try:
            search, offset = _page(search, page=query.page, size=query.size, cursor=query.cursor, sort=sort, count_up_to=TICKET_COUNT_LIMIT)
            if query.highlight and words:
                search = _highlighted(search, query.text, field="text", also=[])
            response = search.source(excludes=["text_seg", "address_seg", "phone_digest"]).execute()
        except es_exceptions.NotFoundError:
            ensure_index("tickets")
            return Page(count=0)
    hits = response.hits
    results = []
    for hit in hits:
        fragments = getattr(getattr(hit.meta, "highlight", None), "text", None)
        results.append(
            TicketHit(
                id=int(hit.id),
                number=hit.number,
                title=getattr(hit, "title", ""),
                highlight=_merge_marks(fragments[0]) if fragments else "",
                state=hit.state,
                resolved=bool(getattr(hit, "resolved", False)),
                answer=getattr(hit, "answer", "") or "",
                category=getattr(hit, "category", "") or "",
                department=getattr(hit, "department", "") or "",
                address=getattr(hit, "address", "") or "",
                registered_at=_as_datetime(getattr(hit, "registered_at", None)),
                score=float(hit.meta.score or 0.0),
            )
        )
    return Page(count=hits.total.value, results=results, next_cursor=_next_cursor(hits, query.size, offset), count_exact=hits.total.relation == "eq")
