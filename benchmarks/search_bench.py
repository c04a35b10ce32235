"""Knowledge search benchmark: bulk reindex throughput and search latency at hotline scale.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline_kb_bench \
    ELASTICSEARCH_URL=http://127.0.0.1:9250 SEARCH_INDEX_PREFIX=bench \
    SECRET_KEY=... ALLOWED_HOSTS=localhost \
    .venv/bin/python benchmarks/search_bench.py --articles 10000 --tickets 1000000

1. generates N articles (variants of the demo knowledge base, each with a
   published version) and M tickets (descriptions cut from real citizen
   messages, addresses, phones by digest, replies on the resolved ones)
   straight into the database with COPY — data generation, not the product's
   write path;
2. rebuilds both indices with the product's own bulk rebuild
   (``knowledge.search.rebuild``, what ``manage.py search_reindex`` runs) and
   reports documents per second;
3. runs a few hundred realistic searches through ``knowledge.search`` (the
   API's code path: jieba, synonyms, filters, highlights) and reports
   p50/p95/p99 latency per kind of search.

It writes only to a database whose name contains "bench" (override with
``--allow-any-database``) and to indices under ``SEARCH_INDEX_PREFIX``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")

DATA = Path("/work/shared/data") if Path("/work/shared/data").exists() else ROOT / "routing" / "fixtures"
DISTRICTS = ["东城区", "西城区", "南湖区", "北山区", "高新区"]
STREETS = ["东华街道", "安定街道", "龙潭街道", "西长街道", "月坛街道", "南湖街道", "湖滨街道", "新桥街道", "北山街道", "青龙街道", "科创街道", "未来城街道"]
PLACES = ["幸福里小区", "阳光花园", "滨江新城", "人民路", "解放大道", "中山路", "建设路", "学府路", "锦绣家园", "翠湖苑", "市民广场", "火车站"]
REPLIES = [
    "经核实，诉求属实。已安排维修人员于次日完成处理，并电话告知诉求人。",
    "已联系相关单位现场查看，责令限期整改，后续将加强巡查。",
    "经查，该事项属于政策咨询，已向市民详细解答办理条件和所需材料。",
    "已协调物业和社区共同处理，问题已解决，诉求人表示满意。",
    "执法人员已到场处置，对违规行为依法查处，并将持续跟踪。",
]
SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]?")


def setup_django(args) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    name = settings.DATABASES["default"]["NAME"]
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        raise SystemExit("the benchmark needs PostgreSQL (set DATABASE_URL)")
    if "bench" not in str(name) and not args.allow_any_database:
        raise SystemExit(f"refusing to write benchmark data into database {name!r}: use one named *bench* or --allow-any-database")
    if settings.SEARCH_BACKEND == "elasticsearch" and not args.allow_any_database and "bench" not in settings.SEARCH_INDEX_PREFIX:
        raise SystemExit("set SEARCH_INDEX_PREFIX to something with 'bench' in it (the benchmark rebuilds those indices)")
    connection.ensure_connection()


# --- data generation (COPY: fast, and not the product's write path) -------------------------------
def _row_for(model, values: dict) -> tuple[list[str], list]:
    columns, row = [], []
    for field in model._meta.concrete_fields:
        if field.column == "id" and "id" not in values:
            continue
        columns.append(field.column)
        if field.column in values:
            row.append(values[field.column])
        elif field.null:
            row.append(None)
        elif field.has_default():
            row.append(field.get_default())
        else:
            row.append("")
        if isinstance(row[-1], (dict, list)):  # a JSON column's value (its default, {} or [])
            row[-1] = json.dumps(row[-1], ensure_ascii=False)
    return columns, row


def copy_rows(model, rows) -> int:
    """COPY dict rows (column → value) into ``model``'s table; returns how many."""
    from django.db import connection

    count = 0
    columns = None
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        copy_cm = None
        copy = None
        try:
            for values in rows:
                cols, row = _row_for(model, values)
                if columns is None:
                    columns = cols
                    copy_cm = raw.copy(f'COPY {model._meta.db_table} ({", ".join(columns)}) FROM STDIN')
                    copy = copy_cm.__enter__()
                copy.write_row(row)
                count += 1
        finally:
            if copy_cm is not None:
                copy_cm.__exit__(*sys.exc_info())
    return count


def reference_data():
    from routing.models import Category, Department

    categories = {}
    with open(DATA / "categories.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parent = None
            path = []
            for level in ("level1", "level2", "level3"):
                name = (row.get(level) or "").strip()
                if not name:
                    continue
                path.append(name)
                key = "/".join(path)
                if key not in categories:
                    node = Category.objects.filter(parent=parent, name=name).first()
                    if node is None:
                        node = Category.objects.create(code=f"b{len(categories) + 1:05d}", name=name, parent=parent)
                    categories[key] = node
                parent = categories[key]
    codes = ["zhujian", "chengguan", "jiaotong", "shengtai", "renshe", "weijian", "jiaoyu", "shichang", "gongan", "shuiwu", "gongdian", "ranqi", "yibao", "gongjijin", "minzheng"]
    departments = {}
    for code in codes:
        departments[code], _ = Department.objects.get_or_create(code=code, defaults={"name": f"示范市{code}"})
    for district in DISTRICTS:
        for i in range(1, 13):
            code = f"bench-{DISTRICTS.index(district)}-{i}"
            departments[code], _ = Department.objects.get_or_create(code=code, defaults={"name": f"{district}第{i}承办单位"})
    return categories, departments


def generate_articles(n: int, categories, departments, rng: random.Random) -> int:
    from django.utils import timezone

    from knowledge import markup
    from knowledge.demo import read_articles
    from knowledge.models import Article, ArticleVersion

    demo = read_articles()
    now = timezone.now()
    articles, versions = [], []
    for i in range(n):
        base = demo[i % len(demo)]
        other = demo[rng.randrange(len(demo))]
        district = DISTRICTS[i % len(DISTRICTS)]
        title = base["title"] if i < len(demo) else f"{base['title']}（{district}·{2020 + i % 7}版）"
        extra = rng.choice([p for p in other["body"].split("\n\n") if p.strip()] or [""])
        body = f"{base['body']}\n\n## {district}补充说明\n{extra}"
        expired = rng.random() < 0.1
        valid_until = date(2024, 12, 31) if expired else (None if rng.random() < 0.8 else date(2028, 12, 31))
        category = categories.get(base["category"]) or rng.choice(list(categories.values()))
        department = departments.get(base["department"]) or rng.choice(list(departments.values()))
        keywords = " ".join(base.get("keywords") or [])
        articles.append(
            Article(
                slug=f"bench-{i:06d}", title=title[:200], body=body, body_html=markup.render(body), category=category,
                department=department, keywords=keywords[:300], valid_from=date(2020, 1, 1), valid_until=valid_until,
                state="published", published_version=1, live=True, reviewed_at=now - timedelta(days=rng.randrange(400)),
            )
        )  # fmt: skip
    Article.objects.bulk_create(articles, batch_size=1000)
    for article in Article.objects.filter(slug__startswith="bench-").only("id", "title", "body", "body_html", "category_id", "department_id", "keywords", "valid_from", "valid_until").iterator(chunk_size=2000):
        versions.append(
            ArticleVersion(
                article_id=article.pk, number=1, title=article.title, body=article.body, body_html=article.body_html,
                category_id=article.category_id, department_id=article.department_id, keywords=article.keywords,
                valid_from=article.valid_from, valid_until=article.valid_until, diff="", published_at=now,
            )
        )  # fmt: skip
    ArticleVersion.objects.bulk_create(versions, batch_size=1000)
    # Generated "a while ago": a rebuild right after must not count them as changed meanwhile.
    Article.objects.filter(slug__startswith="bench-").update(updated_at=now - timedelta(days=1))
    return len(articles)


def _fragments() -> list[str]:
    sentences = []
    with open(DATA / "citizen_messages.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            message = json.loads(line)
            for sentence in SENTENCE.findall(message["text"]):
                sentence = sentence.strip()
                if 8 <= len(sentence) <= 120:
                    sentences.append(sentence.replace("A市", "示范市"))
    return sentences


def generate_tickets(m: int, categories, departments, rng: random.Random, *, progress) -> tuple[int, list[str]]:
    """M tickets with citizens (phones kept as digests); returns the count and a sample of phones for lookups."""
    from routing.models import Citizen, Ticket, phone_digest

    fragments = _fragments()
    leaf_categories = [c for key, c in categories.items() if key.count("/") == 2]
    dept_ids = [d.pk for d in departments.values()]
    citizens_wanted = max(m // 4, 1)
    start_id = (Citizen.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    phones = [f"13{rng.randrange(10**9):09d}" for _ in range(citizens_wanted)]
    phones = list(dict.fromkeys(phones))
    now = datetime.now(dt_timezone.utc)
    copy_rows(
        Citizen,
        ({"id": start_id + i, "name": "", "phone": p, "phone_digest": phone_digest(p), "created_at": now} for i, p in enumerate(phones)),
    )
    citizen_ids = list(range(start_id, start_id + len(phones)))
    first = (Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    states = ["closed"] * 55 + ["reply_approved"] * 8 + ["rated"] * 7 + ["accepted"] * 12 + ["dispatched"] * 8 + ["registered"] * 6 + ["declined"] * 4
    start_day = datetime(2023, 1, 1, tzinfo=dt_timezone.utc)
    per_day = max(m // 1000, 1)

    def rows():
        for i in range(m):
            registered = start_day + timedelta(days=i // per_day, seconds=rng.randrange(86400))
            state = states[rng.randrange(len(states))]
            text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 3)))[:400]
            resolved = state in {"closed", "reply_approved", "rated"}
            district = rng.choice(DISTRICTS)
            lead = rng.choice(dept_ids) if state not in {"registered", "declined"} else None
            first_contact = resolved and rng.random() < 0.3
            yield {
                "id": first + i,
                "number": f"{(start_day + timedelta(days=i // per_day)):%Y%m%d}-{first + i:06d}"[:20],
                "channel": rng.choice(["phone", "phone", "web", "sms", "chat"]),
                "type": rng.choice(["inquiry", "help", "complaint", "report", "suggestion"]),
                "category_id": rng.choice(leaf_categories).pk,
                "title": text[:40],
                "description": text,
                "address": f"示范市{district}{rng.choice(STREETS)}{rng.choice(PLACES)}{rng.randint(1, 40)}号",
                "citizen_id": rng.choice(citizen_ids),
                "state": state,
                "department_id": None if first_contact else lead,
                "registered_at": registered,
                "created_at": registered,
                "updated_at": registered,
                "closed_at": registered + timedelta(days=3) if state in {"closed", "declined"} else None,
                "resolution": rng.choice(REPLIES) if first_contact else "",
                "reply_text": rng.choice(REPLIES) if resolved and not first_contact else "",
            }
            if progress and i % 10000 == 0:
                progress(i)

    count = copy_rows(Ticket, rows())
    through = Ticket.assisting_departments.through
    assisting = ({"ticket_id": first + i, "department_id": rng.choice(dept_ids)} for i in range(0, m, 20))
    copy_rows(through, assisting)
    return count, rng.sample(phones, min(200, len(phones)))


def wipe() -> None:
    from django.db import connection

    from knowledge.models import Article, ArticleVersion
    from routing.models import Citizen, OutboxMessage, Ticket, TicketEvent

    tables = [m._meta.db_table for m in (ArticleVersion, Article, TicketEvent, Ticket.assisting_departments.through, Ticket, Citizen, OutboxMessage)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


# --- measuring ----------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def build_queries(rng: random.Random, phones: list[str], categories, departments, n: int) -> list[tuple[str, object]]:
    from knowledge.search import ArticleQuery, TicketQuery
    from routing.models import Ticket, phone_digest

    relevance = json.loads((ROOT / "tests" / "knowledge" / "relevance_queries.json").read_text(encoding="utf-8"))
    spoken = [item["query"] for item in relevance]
    top_categories = [c for key, c in categories.items() if "/" not in key]
    dept_list = list(departments.values())
    max_id = Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 1
    sample_ids = [rng.randint(1, max_id) for _ in range(n)]
    tickets = {t["id"]: t for t in Ticket.objects.filter(id__in=sample_ids).values("id", "number", "title")}
    sample = list(tickets.values()) or [{"number": "20230101-000001", "title": "路灯不亮"}]
    queries: list[tuple[str, object]] = []
    per_kind = max(n // 6, 1)
    for i in range(per_kind * 2):
        queries.append(("article: caller's words", ArticleQuery(text=spoken[i % len(spoken)], size=10)))
    for i in range(per_kind):
        queries.append(("article: words + category filter", ArticleQuery(text=spoken[i % len(spoken)], category_id=rng.choice(top_categories).pk, size=10)))
    for i in range(per_kind):
        queries.append(("tickets: similar resolved", TicketQuery(text=rng.choice(sample)["title"], resolved_only=True, size=5)))
    for i in range(per_kind // 2):
        queries.append(("tickets: caller's phone", TicketQuery(phone_digest=phone_digest(rng.choice(phones)), size=5)))
    for i in range(per_kind // 2):
        queries.append(("tickets: number", TicketQuery(number=rng.choice(sample)["number"], size=5)))
    for i in range(max(per_kind // 4, 5)):
        queries.append(("tickets: department staff words", TicketQuery(text=rng.choice(sample)["title"], department_ids=[rng.choice(dept_list).pk], size=10)))
    rng.shuffle(queries)
    return queries


def run_queries(queries) -> dict[str, list[float]]:
    from knowledge import search
    from knowledge.search import ArticleQuery

    timings: dict[str, list[float]] = {}
    for kind, query in queries:
        started = time.perf_counter()
        if isinstance(query, ArticleQuery):
            search.search_articles(query)
        else:
            search.search_tickets(query)
        timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
    return timings


def list_searches(rng: random.Random, phones: list[str], departments, n: int) -> dict:
    """The ticket list's ``q`` (``GET /api/v1/tickets/?q=``) through the API view in process: the engine's ids,
    the database's page of 20 and its count, serialized as the API answers. Beside it, the same words as one raw
    Elasticsearch query (the baseline) and, a few times, the ``icontains`` scan the list used before."""
    from django.db.models import Q as DbQ
    from rest_framework.test import APIRequestFactory, force_authenticate

    from knowledge import vocabulary
    from routing.api.views import TicketListCreate
    from routing.models import Ticket, User
    from routing.roles import Role

    dispatcher, _ = User.objects.get_or_create(username="bench-dispatcher", defaults={"role": Role.DISPATCHER})
    staff = []
    for department in departments.values():
        user, _ = User.objects.get_or_create(username=f"bench-{department.code}", defaults={"role": Role.DEPARTMENT, "department": department})
        staff.append(user)
    max_id = Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 1
    sample = list(Ticket.objects.filter(id__in=[rng.randint(1, max_id) for _ in range(n)]).values("number", "description"))
    factory, view = APIRequestFactory(), TicketListCreate.as_view()

    def words_of(row) -> str:
        words = [w for w in vocabulary.query_words(row["description"]) if len(w) > 1]
        return " ".join(rng.sample(words, min(2, len(words)))) or "路灯"

    cases: list[tuple[str, object, dict]] = []
    for row in sample:
        cases.append(("list q: two words", dispatcher, {"q": words_of(row)}))
    for row in sample[: n // 2]:
        cases.append(("list q: two words + state", dispatcher, {"q": words_of(row), "state": "closed"}))
        cases.append(("list q: number", dispatcher, {"q": row["number"]}))
        cases.append(("list q: caller's phone", dispatcher, {"q": rng.choice(phones)}))
        cases.append(("list q: department staff, two words", rng.choice(staff), {"q": words_of(row)}))
    rng.shuffle(cases)

    def run(user, params) -> float:
        request = factory.get("/api/v1/tickets/", params, HTTP_HOST="localhost")
        force_authenticate(request, user=user)
        started = time.perf_counter()
        response = view(request)
        response.render()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:300]
        return elapsed

    for _kind, user, params in cases[:30]:  # warm-up
        run(user, params)
    timings: dict[str, list[float]] = {}
    for kind, user, params in cases:
        timings.setdefault(kind, []).append(run(user, params))

    from knowledge.search import elastic

    from django.conf import settings

    raw = []
    if settings.SEARCH_BACKEND == "elasticsearch":
        es = elastic.client()
        for kind, _user, params in cases:
            if kind != "list q: two words":
                continue
            body = {"query": {"match": {"text_seg": {"query": params["q"], "operator": "and"}}}, "sort": [{"registered_at": "desc"}], "size": 20, "_source": False}
            started = time.perf_counter()
            es.search(index=elastic.alias_name("tickets"), body=body)
            raw.append((time.perf_counter() - started) * 1000)
    scans = []
    for row in sample[:3]:
        word = (words_of(row).split() or ["路灯"])[0]
        started = time.perf_counter()
        list(Ticket.objects.filter(DbQ(description__icontains=word) | DbQ(address__icontains=word) | DbQ(title__icontains=word)).order_by("-registered_at", "-id").values_list("id", flat=True)[:20])
        Ticket.objects.filter(DbQ(description__icontains=word) | DbQ(address__icontains=word) | DbQ(title__icontains=word)).count()
        scans.append((time.perf_counter() - started) * 1000)

    def stats(values):
        return {"n": len(values), "p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1), "p99": round(percentile(values, 99), 1), "max": round(max(values), 1)}

    everything = [t for values in timings.values() for t in values]
    out = {kind: stats(v) for kind, v in sorted(timings.items())}
    out["list q: all"] = stats(everything)
    if raw:
        out["baseline: raw Elasticsearch match, 20 newest"] = stats(raw)
    out["before: icontains scan, page + count"] = stats(scans)
    return out


def deep_page(pages: list[int]) -> list[tuple[int, float]]:
    """Latency of far pages of a query every ticket matches (their addresses all say 示范市): beyond the 10,000-hit window."""
    from knowledge import search
    from knowledge.search import TicketQuery

    out = []
    for page in pages:
        started = time.perf_counter()
        result = search.search_tickets(TicketQuery(text="示范市", page=page, size=20, highlight=False))
        out.append((page, (time.perf_counter() - started) * 1000, len(result.results), result.count))
    return out


def cursor_pages(pages: int) -> list[float]:
    """Latency of each page when following ``next_cursor`` (search_after) through the same broad query."""
    from knowledge import search
    from knowledge.search import TicketQuery

    timings, cursor = [], None
    for _ in range(pages):
        started = time.perf_counter()
        result = search.search_tickets(TicketQuery(text="示范市", size=20, cursor=cursor, highlight=False))
        timings.append((time.perf_counter() - started) * 1000)
        cursor = result.next_cursor
        if cursor is None:
            break
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--reuse-data", action="store_true", help="keep the data already in the benchmark database")
    parser.add_argument("--skip-reindex", action="store_true", help="search the indices as they are")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="reindex: processes that segment text (manage.py search_reindex --workers)")
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "search_bench.json")
    parser.add_argument("--allow-any-database", action="store_true")
    parser.add_argument("--list-only", action="store_true", help="only the ticket list's search (with --reuse-data --skip-reindex)")
    args = parser.parse_args()
    setup_django(args)

    from django.conf import settings

    from knowledge import search
    from knowledge.models import Article
    from routing.models import Ticket

    rng = random.Random(args.seed)
    report: dict = {
        "backend": settings.SEARCH_BACKEND, "articles": args.articles, "tickets": args.tickets, "workers": args.workers,
        "cpus": os.cpu_count(), "started": datetime.now().isoformat(timespec="seconds"),
    }  # fmt: skip
    categories, departments = reference_data()
    if not args.reuse_data:
        wipe()
        t0 = time.monotonic()
        report["articles_generated"] = generate_articles(args.articles, categories, departments, rng)
        t1 = time.monotonic()
        step = max(args.tickets // 10, 1)
        count, phones = generate_tickets(
            args.tickets, categories, departments, rng, progress=lambda i: i % step == 0 and print(f"  generated {i:,} tickets", flush=True)
        )
        report["tickets_generated"] = count
        report["generate_seconds"] = {"articles": round(t1 - t0, 1), "tickets": round(time.monotonic() - t1, 1)}
        print(f"generated {args.articles:,} articles and {count:,} tickets in {time.monotonic() - t0:.0f} s", flush=True)
    else:
        from routing.models import Citizen

        phones = list(Citizen.objects.order_by("?").values_list("phone", flat=True)[:200])
    report["rows"] = {"articles": Article.objects.live().count(), "tickets": Ticket.objects.count()}

    if not args.skip_reindex:
        from tqdm import tqdm

        bars = []

        def progress(kind, total):
            bar = tqdm(total=total, desc=f"reindex {kind}", unit="doc", mininterval=5, file=sys.stderr)
            bars.append(bar)
            return bar.update

        started = time.monotonic()
        rebuilt = search.rebuild(progress=progress, chunk_size=args.chunk_size, workers=args.workers)
        for bar in bars:
            bar.close()
        total_seconds = time.monotonic() - started
        report["reindex"] = {
            kind: {
                "documents": r["indexed"], "seconds": round(r["seconds"], 1), "caught_up": r["caught_up"],
                "docs_per_second": round(r["indexed"] / r["seconds"]) if r["seconds"] else None,
            }
            for kind, r in rebuilt.items()
        }
        documents = sum(r["indexed"] for r in rebuilt.values())
        report["reindex"]["total"] = {"documents": documents, "seconds": round(total_seconds, 1), "docs_per_second": round(documents / total_seconds)}
        print(json.dumps(report["reindex"], indent=2), flush=True)
    search.refresh()

    if args.list_only:
        report["list_ms"] = list_searches(rng, phones, departments, max(args.queries // 3, 20))
        print(json.dumps(report["list_ms"], ensure_ascii=False, indent=1))
        return
    queries = build_queries(rng, phones, categories, departments, args.queries)
    run_queries(queries[:40])  # warm-up: jieba, connections, caches
    timings = run_queries(queries)
    everything = [t for values in timings.values() for t in values]
    report["latency_ms"] = {
        kind: {"n": len(v), "p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1), "p99": round(percentile(v, 99), 1), "max": round(max(v), 1)}
        for kind, v in sorted(timings.items())
    }
    report["latency_ms"]["all"] = {
        "n": len(everything), "p50": round(percentile(everything, 50), 1), "p95": round(percentile(everything, 95), 1),
        "p99": round(percentile(everything, 99), 1), "max": round(max(everything), 1), "mean": round(statistics.mean(everything), 1),
    }  # fmt: skip
    report["deep_pages_ms"] = [{"page": p, "ms": round(ms, 1), "hits": n, "count": c} for p, ms, n, c in deep_page([1, 100, 600, 2000])]
    followed = cursor_pages(100)
    report["cursor_pages_ms"] = {"pages": len(followed), "p50": round(percentile(followed, 50), 1), "p95": round(percentile(followed, 95), 1), "max": round(max(followed), 1)}
    report["list_ms"] = list_searches(rng, phones, departments, max(args.queries // 3, 20))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")

    print("\n| search | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for kind, row in report["latency_ms"].items():
        print(f"| {kind} | {row['n']} | {row['p50']} | {row['p95']} | {row['p99']} | {row['max']} |")
    print("\n| ticket list search (API view) | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for kind, row in report["list_ms"].items():
        print(f"| {kind} | {row['n']} | {row['p50']} | {row['p95']} | {row['p99']} | {row['max']} |")
    print("\ndeep pages (tickets matching 示范市 — all of them —, 20 per page):")
    for row in report["deep_pages_ms"]:
        print(f"  page {row['page']}: {row['ms']} ms ({row['hits']} hits; count {row['count']:,})")
    cp = report["cursor_pages_ms"]
    print(f"following next_cursor for {cp['pages']} pages: p50 {cp['p50']} ms, p95 {cp['p95']} ms, max {cp['max']} ms")
    print(f"\nfull report: {args.output}")


if __name__ == "__main__":
    main()
