"""The embedded backend: SQLite FTS5 in its own file (``EMBEDDED_SEARCH_PATH``), for the zero-setup default.

It indexes what the Elasticsearch backend indexes — jieba-segmented words and
character bigrams — and answers the same queries with the same synonyms,
filters and paging, ranked by FTS5's BM25 with titles weighted over bodies.

Several processes share the file (daphne workers search, the outbox worker
writes): every operation opens its own connection in WAL mode, so readers
never wait for the writer. Like the Elasticsearch aliases, the tables are
versioned: ``articles_fts_<n>``/``articles_doc_<n>`` hold generation *n*,
``search_state`` says which generation is current, and a rebuild fills
generation *n+1* and switches to it in one transaction.
"""

from __future__ import annotations

import contextlib
import html
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from knowledge import vocabulary
from knowledge.errors import InvalidInput, SearchUnavailable
from knowledge.search import parallel
from knowledge.search.query import ArticleHit, ArticleQuery, Matches, Page, TicketHit, TicketQuery, decode_cursor, encode_cursor
from knowledge.search.records import ArticleRecord, TicketRecord

BUSY_TIMEOUT_SECONDS = 10
BATCH = 1000
HIGHLIGHT_SIZE = 120

# FTS columns and their BM25 weights (the same as the Elasticsearch query's field boosts):
# jieba words, titles and keywords over bodies; bigrams as the fallback.
SCHEMA = {
    "articles": {
        "fts": [("title_seg", 3.0), ("keywords_seg", 3.0), ("body_seg", 1.0), ("title_bi", 1.0), ("keywords_bi", 1.0), ("body_bi", 0.5)],
        "doc": (
            "id INTEGER PRIMARY KEY, slug TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, keywords TEXT NOT NULL, "
            "category_id INTEGER NOT NULL, category_path TEXT NOT NULL, category TEXT NOT NULL, department_id INTEGER NOT NULL, "
            "department TEXT NOT NULL, valid_from TEXT, valid_until TEXT, reviewed_at TEXT, published_at TEXT, version INTEGER NOT NULL"
        ),
        "indexes": ["department_id", "category_path"],
    },
    "tickets": {
        # No bigram columns: ticket text is matched by its words only, as in Elasticsearch.
        "fts": [("text_seg", 2.0), ("address_seg", 1.0), ("answer_seg", 1.0)],
        "doc": (
            "id INTEGER PRIMARY KEY, number TEXT NOT NULL, phone_digest TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, "
            "address TEXT NOT NULL, answer TEXT NOT NULL, state TEXT NOT NULL, resolved INTEGER NOT NULL, type TEXT NOT NULL, "
            "category_path TEXT NOT NULL, category TEXT NOT NULL, department_ids TEXT NOT NULL, department TEXT NOT NULL, "
            "registered_at TEXT NOT NULL"
        ),
        "indexes": ["number", "phone_digest", "registered_at"],
    },
}
KINDS = tuple(SCHEMA)


# --- the file and its tables ---------------------------------------------------------
@contextlib.contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A connection of its own to the search file (autocommit; callers BEGIN explicitly)."""
    path = settings.EMBEDDED_SEARCH_PATH
    try:
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise SearchUnavailable(f"embedded search file {path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        yield db
    finally:
        db.close()


def _tables(kind: str, generation: int) -> tuple[str, str]:
    return f"{kind}_fts_{generation}", f"{kind}_doc_{generation}"


def _create_generation(db: sqlite3.Connection, kind: str, generation: int) -> None:
    fts, doc = _tables(kind, generation)
    spec = SCHEMA[kind]
    columns = ", ".join(name for name, _weight in spec["fts"])
    db.execute(f"DROP TABLE IF EXISTS {fts}")
    db.execute(f"DROP TABLE IF EXISTS {doc}")
    db.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, tokenize='unicode61 remove_diacritics 0')")
    db.execute(f"CREATE TABLE {doc} ({spec['doc']})")
    for column in spec["indexes"]:
        db.execute(f"CREATE INDEX {doc}_{column} ON {doc} ({column})")


def _generation(db: sqlite3.Connection, kind: str) -> int:
    """The current generation of ``kind``, creating the first one in a fresh file."""
    try:
        row = db.execute("SELECT generation FROM search_state WHERE kind = ?", (kind,)).fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is not None:
        return row[0]
    began = not db.in_transaction
    if began:
        db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS search_state (kind TEXT PRIMARY KEY, generation INTEGER NOT NULL)")
        row = db.execute("SELECT generation FROM search_state WHERE kind = ?", (kind,)).fetchone()
        if row is None:
            _create_generation(db, kind, 1)
            db.execute("INSERT INTO search_state (kind, generation) VALUES (?, 1)", (kind,))
            row = (1,)
        if began:
            db.execute("COMMIT")
    except BaseException:
        if began and db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return row[0]


def ping() -> None:
    with connect() as db:
        db.execute("SELECT 1").fetchone()


def refresh() -> None:
    """Writes are visible at commit; nothing to do (the same interface as Elasticsearch)."""


def clear() -> None:
    """Remove every document of the current generations, keeping the tables."""
    with connect() as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            for kind in KINDS:
                row = db.execute("SELECT generation FROM search_state WHERE kind = ?", (kind,)).fetchone() if _has_state(db) else None
                if row is not None:
                    for table in _tables(kind, row[0]):
                        db.execute(f"DELETE FROM {table}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _has_state(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_state'").fetchone() is not None


def delete_all() -> None:
    """Drop every table of the search file (tests and a full reset)."""
    with connect() as db:
        db.execute("BEGIN IMMEDIATE")
        # Virtual tables first: dropping one drops its shadow tables.
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'").fetchall():
            db.execute(f"DROP TABLE IF EXISTS {name}")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall():
            db.execute(f"DROP TABLE IF EXISTS {name}")
        db.execute("COMMIT")


# --- writing ---------------------------------------------------------------------------
def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.isoformat()


def _article_rows(record: ArticleRecord) -> tuple[tuple, tuple]:
    fts = (
        vocabulary.segmented(record.title), vocabulary.segmented(record.keywords), vocabulary.segmented(record.body),
        vocabulary.bigrams(record.title), vocabulary.bigrams(record.keywords), vocabulary.bigrams(record.body),
    )  # fmt: skip
    doc = (
        record.slug, record.title, record.body, record.keywords, record.category_id,
        "/" + "".join(f"{pk}/" for pk in record.category_ids), record.category, record.department_id, record.department,
        _iso(record.valid_from), _iso(record.valid_until), _iso(record.reviewed_at), _iso(record.published_at), record.version,
    )  # fmt: skip
    return fts, doc


def _ticket_rows(record: TicketRecord) -> tuple[tuple, tuple]:
    fts = (vocabulary.segmented(record.text), vocabulary.segmented(record.address), vocabulary.segmented(record.answer))
    doc = (
        record.number, record.phone_digest, record.title, record.text, record.address, record.answer, record.state,
        int(record.resolved), record.type, "/" + "".join(f"{pk}/" for pk in record.category_ids), record.category,
        "," + "".join(f"{pk}," for pk in record.department_ids), record.department, _iso(record.registered_at),
    )  # fmt: skip
    return fts, doc


ROWS = {"articles": _article_rows, "tickets": _ticket_rows}
DOC_COLUMNS = {
    "articles": "slug, title, body, keywords, category_id, category_path, category, department_id, department, valid_from, valid_until, reviewed_at, published_at, version",
    "tickets": "number, phone_digest, title, text, address, answer, state, resolved, type, category_path, category, department_ids, department, registered_at",
}


def _upsert(db: sqlite3.Connection, kind: str, generation: int, record_id: int, fts_row: tuple, doc_row: tuple) -> None:
    fts, doc = _tables(kind, generation)
    fts_columns = ", ".join(name for name, _weight in SCHEMA[kind]["fts"])
    db.execute(f"DELETE FROM {fts} WHERE rowid = ?", (record_id,))
    db.execute(f"INSERT INTO {fts} (rowid, {fts_columns}) VALUES (?, {', '.join('?' * len(fts_row))})", (record_id, *fts_row))
    db.execute(f"INSERT OR REPLACE INTO {doc} (id, {DOC_COLUMNS[kind]}) VALUES (?, {', '.join('?' * len(doc_row))})", (record_id, *doc_row))


def index_record(kind: str, record) -> None:
    """Add or replace one document in the current generation."""
    fts_row, doc_row = ROWS[kind](record)
    with connect() as db:
        _generation(db, kind)
        db.execute("BEGIN IMMEDIATE")  # the generation cannot switch under this write
        try:
            _upsert(db, kind, _generation(db, kind), record.id, fts_row, doc_row)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def index_many(kind: str, records: list) -> None:
    """Add or replace many documents in one transaction of the current generation."""
    if not records:
        return
    rows = [(record.id, *ROWS[kind](record)) for record in records]
    with connect() as db:
        _generation(db, kind)
        db.execute("BEGIN IMMEDIATE")
        try:
            generation = _generation(db, kind)
            for record_id, fts_row, doc_row in rows:
                _upsert(db, kind, generation, record_id, fts_row, doc_row)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def delete_record(kind: str, record_id: int) -> None:
    with connect() as db:
        _generation(db, kind)
        db.execute("BEGIN IMMEDIATE")
        try:
            fts, doc = _tables(kind, _generation(db, kind))
            db.execute(f"DELETE FROM {fts} WHERE rowid = ?", (record_id,))
            db.execute(f"DELETE FROM {doc} WHERE id = ?", (record_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def rebuild(kind: str, records: Iterable, *, on_progress: Callable[[int], None] | None = None, chunk_size: int = BATCH, workers: int = 1) -> dict:
    """Fill the next generation from ``records`` in batches, then make it current in one transaction."""
    started = time.monotonic()
    with connect() as db:
        old = _generation(db, kind)
        new = old + 1
        db.execute("BEGIN IMMEDIATE")
        _create_generation(db, kind, new)
        db.execute("COMMIT")
        indexed = 0
        batch: list[tuple[int, tuple, tuple]] = []

        def flush() -> None:
            db.execute("BEGIN IMMEDIATE")
            for record_id, fts_row, doc_row in batch:
                _upsert(db, kind, new, record_id, fts_row, doc_row)
            db.execute("COMMIT")
            if on_progress is not None:
                on_progress(len(batch))
            batch.clear()

        try:
            for record_id, (fts_row, doc_row) in parallel.built(ROWS[kind], records, workers=workers):
                batch.append((record_id, fts_row, doc_row))
                indexed += 1
                if len(batch) >= chunk_size:
                    flush()
            if batch:
                flush()
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE search_state SET generation = ? WHERE kind = ?", (new, kind))
            for table in _tables(kind, old):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
            for table in _tables(kind, new):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute("COMMIT")
            raise
    return {"index": f"{settings.EMBEDDED_SEARCH_PATH}:{kind}#{new}", "indexed": indexed, "seconds": time.monotonic() - started}


def current_index(kind: str) -> str | None:
    with connect() as db:
        return f"{settings.EMBEDDED_SEARCH_PATH}:{kind}#{_generation(db, kind)}"


# --- searching ---------------------------------------------------------------------------
def _fts_string(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def match_expression(kind: str, text: str, *, every_word: bool = False) -> tuple[str | None, list[str]]:
    """The FTS5 query for ``text`` and the words to highlight.

    Each meaningful word (with its synonyms) is looked up in the segmented
    columns, and its character bigrams in the bigram columns; any match counts
    and BM25 ranks. ``every_word``: each word, or a synonym of it, must be in
    a segmented column (the ticket list's search, as Elasticsearch's).
    """
    groups = vocabulary.query_terms(text)
    if not groups:
        return None, []
    words = list(dict.fromkeys(w for group in groups for w in group))
    seg_columns = " ".join(name for name, _w in SCHEMA[kind]["fts"] if name.endswith("_seg"))
    if every_word:
        return " AND ".join("{%s} : (%s)" % (seg_columns, " OR ".join(_fts_string(w) for w in group)) for group in groups), words
    grams = list(dict.fromkeys(g for word in vocabulary.query_words(text) for g in vocabulary.bigrams(word).split()))
    bi_columns = " ".join(name for name, _w in SCHEMA[kind]["fts"] if name.endswith("_bi"))
    parts = ["{%s} : (%s)" % (seg_columns, " OR ".join(_fts_string(w) for w in words))]
    if grams and bi_columns:
        parts.append("{%s} : (%s)" % (bi_columns, " OR ".join(_fts_string(g) for g in grams)))
    return " OR ".join(parts), words


def highlight(text: str, words: list[str], size: int = HIGHLIGHT_SIZE) -> str:
    """A fragment of ``text`` around the most matches, HTML-escaped, matches in ``<em>``."""
    if not text:
        return ""
    marks = sorted({w for w in words if len(w) > 1} or {w for w in words if w}, key=len, reverse=True)
    if not marks:
        return html.escape(text[:size])
    pattern = re.compile("|".join(re.escape(w) for w in marks), re.IGNORECASE)
    found = list(pattern.finditer(text))
    start = 0
    if found:
        # The window holding most matches; start a little before its first one.
        best, best_count = found[0].start(), 0
        for match in found:
            count = sum(1 for other in found if match.start() <= other.start() < match.start() + size)
            if count > best_count:
                best, best_count = match.start(), count
        start = max(0, best - size // 6)
    fragment = text[start : start + size]
    out, last = [], 0
    for match in pattern.finditer(fragment):
        out.append(html.escape(fragment[last : match.start()]))
        out.append(f"<em>{html.escape(match.group())}</em>")
        last = match.end()
    out.append(html.escape(fragment[last:]))
    return "".join(out)


def _weights(kind: str) -> str:
    return ", ".join(str(weight) for _name, weight in SCHEMA[kind]["fts"])


def _offset(page: int, size: int, cursor: str | None) -> int:
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != 2 or values[0] != "offset" or not isinstance(values[1], int) or values[1] < 0:
            raise InvalidInput(_("cursor 无效"), details={"cursor": [_("无法识别")]})
        return values[1]
    return (page - 1) * size


def _run(kind: str, *, match: str | None, where: list[str], params: list, order: str, size: int, offset: int) -> tuple[int, list]:
    with connect() as db:
        generation = _generation(db, kind)
        db.execute("BEGIN")  # one snapshot for the generation and the query
        try:
            fts, doc = _tables(kind, generation)
            conditions = list(where)
            args = list(params)
            if match is not None:
                source = f"{fts} JOIN {doc} AS d ON d.id = {fts}.rowid"
                conditions.insert(0, f"{fts} MATCH ?")
                args.insert(0, match)
                score = f"-bm25({fts}, {_weights(kind)})"
            else:
                source = f"{doc} AS d"
                score = "0.0"
            clause = " AND ".join(conditions) or "1"
            count = db.execute(f"SELECT count(*) FROM {source} WHERE {clause}", args).fetchone()[0]
            cursor = db.execute(
                f"SELECT d.*, {score} AS score FROM {source} WHERE {clause} ORDER BY {order.format(score=score)} LIMIT ? OFFSET ?",
                [*args, size, offset],
            )
            rows = cursor.fetchall()
            columns = [c[0] for c in cursor.description]
        finally:
            db.execute("COMMIT")
    return count, [dict(zip(columns, row)) for row in rows]


def _next(count: int, offset: int, size: int, got: int) -> str | None:
    if got < size or offset + got >= count:
        return None
    return encode_cursor(["offset", offset + got])


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt_timezone.utc)


def search_articles(query: ArticleQuery) -> Page:
    match, words = match_expression("articles", query.text)
    where, params = [], []
    if query.category_id:
        where.append("d.category_path LIKE ?")
        params.append(f"%/{int(query.category_id)}/%")
    if query.department_id:
        where.append("d.department_id = ?")
        params.append(int(query.department_id))
    if not query.include_expired:
        day = (query.on or timezone.localdate()).isoformat()
        where += ["(d.valid_from IS NULL OR d.valid_from <= ?)", "(d.valid_until IS NULL OR d.valid_until >= ?)"]
        params += [day, day]
    offset = _offset(query.page, query.size, query.cursor)
    count, rows = _run("articles", match=match, where=where, params=params, order="{score} DESC, d.id ASC", size=query.size, offset=offset)
    results = [
        ArticleHit(
            id=row["id"],
            slug=row["slug"],
            title=row["title"],
            highlight=highlight(row["body"], words) if query.highlight and match is not None else "",
            category=row["category"],
            category_id=row["category_id"],
            department=row["department"],
            department_id=row["department_id"],
            valid_from=_date(row["valid_from"]),
            valid_until=_date(row["valid_until"]),
            reviewed_at=_datetime(row["reviewed_at"]),
            version=row["version"],
            score=float(row["score"]),
        )
        for row in rows
    ]
    return Page(count=count, results=results, next_cursor=_next(count, offset, query.size, len(results)))


def _ticket_conditions(query: TicketQuery) -> tuple[str | None, list[str], list[str], list]:
    """The FTS5 match, the words, and the conditions on the document table for ``query``."""
    match, words = match_expression("tickets", query.text, every_word=query.every_word)
    where, params = [], []
    if query.number:
        where.append("d.number = ?")
        params.append(query.number)
    if query.number_prefix:
        where.append("d.number LIKE ? ESCAPE '\\'")
        params.append(query.number_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if query.phone_digest:
        where.append("d.phone_digest = ?")
        params.append(query.phone_digest)
    if query.resolved_only:
        where.append("d.resolved = 1")
    if query.department_ids is not None:
        ids = [int(pk) for pk in query.department_ids]
        if ids:
            where.append("(" + " OR ".join("d.department_ids LIKE ?" for _pk in ids) + ")")
            params += [f"%,{pk},%" for pk in ids]
        else:
            where.append("0")
    if query.states is not None:
        where.append("d.state IN (%s)" % ", ".join("?" * len(query.states)) if query.states else "0")
        params += list(query.states)
    if query.category_id is not None:
        where.append("d.category_path LIKE ?")
        params.append(f"%/{int(query.category_id)}/%")
    if query.exclude_id:
        where.append("d.id != ?")
        params.append(int(query.exclude_id))
    # Every address word (or a synonym of it) must appear in the address.
    for group in vocabulary.query_terms(query.address):
        where.append("(" + " OR ".join("d.address LIKE ?" for _w in group) + ")")
        params += [f"%{w}%" for w in group]
    return match, words, where, params


def ticket_matches(query: TicketQuery, *, limit: int, offset: int = 0, count_up_to: int = 0) -> Matches:
    match, _words, where, params = _ticket_conditions(query)
    total, rows = _run("tickets", match=match, where=where, params=params, order="d.registered_at DESC, d.id DESC", size=limit, offset=offset)
    counted = max(offset + limit, count_up_to)  # the embedded index counts every match; the answer is cut like Elasticsearch's
    return Matches(ids=[row["id"] for row in rows], total=min(total, counted), exact=total <= counted)


def search_tickets(query: TicketQuery) -> Page:
    match, words, where, params = _ticket_conditions(query)
    offset = _offset(query.page, query.size, query.cursor)
    order = "{score} DESC, d.registered_at DESC, d.id DESC" if query.ordered_by_relevance else "d.registered_at DESC, d.id DESC"
    count, rows = _run("tickets", match=match, where=where, params=params, order=order, size=query.size, offset=offset)
    results = [
        TicketHit(
            id=row["id"],
            number=row["number"],
            title=row["title"],
            highlight=highlight(row["text"], words) if query.highlight and match is not None else "",
            state=row["state"],
            resolved=bool(row["resolved"]),
            answer=row["answer"],
            category=row["category"],
            department=row["department"],
            address=row["address"],
            registered_at=_datetime(row["registered_at"]),
            score=float(row["score"]),
        )
        for row in rows
    ]
    return Page(count=count, results=results, next_cursor=_next(count, offset, query.size, len(results)))
