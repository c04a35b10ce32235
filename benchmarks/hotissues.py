"""History import, hot-issue clustering and the hot-issues API at scale.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline \\
        .venv/bin/python -m benchmarks.hotissues --rows 100000 --scale 1000000 --requests 200
    # then, on what it left: the API again, or the month clustered again and the API
    .venv/bin/python -m benchmarks.hotissues --reuse [--recluster]

1. ``hotline_bench_hot`` is created and migrated; the category tree of the demo is loaded;
2. a CSV export of ``--rows`` messages over the last 30 days is written with the Chinese
   headers of a 问政 board (留言编号 … 点赞数): the 2,218 real messages the project ships
   and the hot-issue fixture, each row one of them with its two halves taken from two
   different messages (so most rows are unlike any other, as on a real board), one row in
   four a message repeated as it is (so there are issues to find), a reply on one in two;
3. ``manage.py import_tickets`` imports it (timed by stage: check, write, cluster);
4. with ``--scale``, the month is copied back in time, month by month, with its issues and
   signatures, until the database holds ``--scale`` tickets (SQL, not timed);
5. one daphne process; ``GET /api/v1/hotspots/issues/`` for the last 30 days, for an older
   month and for a whole year, and ``POST /api/v1/repeats/``, each ``--requests`` times.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import json
import random
import resource
import time

from benchmarks import harness

DATABASE = "hotline_bench_hot"
HEADERS = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "一级分类", "答复意见", "答复时间", "点赞数"]


def _messages() -> list[tuple[str, str, str]]:
    rows = []
    for name in ("citizen_messages.jsonl", "citizen_messages_more.jsonl"):
        for line in (harness.ROOT / "routing" / "fixtures" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append((r.get("subject", ""), r["text"], r.get("category", "")))
    for line in (harness.ROOT / "tests" / "fixtures" / "hot_issues.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            rows.append((r["留言主题"], r["留言详情"], ""))
    return rows


def write_export(path, rows: int, *, seed: int = 5) -> None:
    rng = random.Random(seed)
    messages = _messages()
    now = dt.datetime.now().replace(microsecond=0)
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        for n in range(rows):
            title, text, category = rng.choice(messages)
            if rng.random() >= 0.25:
                other = rng.choice(messages)[1]
                text = text[: len(text) // 2] + other[len(other) // 2 :]
            at = now - dt.timedelta(seconds=rng.randrange(30 * 86400))
            reply, replied = "", ""
            if rng.random() < 0.5:
                reply = "经核查，您反映的问题属实，我单位已安排工作人员现场处理，并将持续跟进。如有疑问请致电 12345。"
                replied = (at + dt.timedelta(days=rng.randint(1, 10))).strftime("%Y/%m/%d %H:%M:%S")
                if replied > now.strftime("%Y/%m/%d %H:%M:%S"):
                    reply, replied = "", ""
            writer.writerow([f"B{n}", f"U{rng.randrange(rows // 3)}", title[:60], at.strftime("%Y/%m/%d %H:%M:%S"), text[:8000], category, reply, replied, rng.randrange(5)])


def scale_to(total: int) -> dict:
    """Copy the imported month back in time, month by month (tickets, signatures, issues) until ``total`` tickets."""
    from django.db import connection

    from routing.models import Ticket

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(id) FROM routing_ticket")
        count, max_ticket = cursor.fetchone()
        cursor.execute("SELECT coalesce(max(id), 0) FROM routing_hotissue")
        (max_issue,) = cursor.fetchone()
        month = 1
        while count < total:
            take = min(count_month := Ticket.objects.filter(id__lte=max_ticket).count(), total - count)
            shift = f"interval '{30 * month} days'"
            t_off, i_off = max_ticket * month, max_issue * month
            cursor.execute(
                f"""
                INSERT INTO routing_hotissue (id, title, keywords, place, area_id, first_at, last_at, count, callers, endorsements, days, centroid, heat, notified_at, created_at)
                SELECT id + {i_off}, title, keywords, place, area_id, first_at - {shift}, last_at - {shift}, count, callers, endorsements,
                       coalesce((SELECT jsonb_object_agg(to_char(key::date - {30 * month}, 'YYYY-MM-DD'), value) FROM jsonb_each(days)), '{{}}'::jsonb),
                       centroid, heat, notified_at, created_at
                FROM routing_hotissue WHERE id <= {max_issue}
                """
            )
            # Every column copied as it is but these (a new column of Ticket needs nothing here).
            shifted = {
                "id": f"id + {t_off}", "number": f"'S{month}-' || number", "external_id": "NULL", "channel_ref": "''",
                "registered_at": f"registered_at - {shift}", "replied_at": f"replied_at - {shift}", "closed_at": f"closed_at - {shift}",
                "extension_pending": "false", "extension_reason": "''", "extension_count": "0", "return_reason": "''",
                "return_from_state": "''", "unsatisfied_count": "0", "supervised": "false", "urge_count": "0", "decline_reason": "''",
                "proposal": "'{}'::jsonb", "proposal_version": "''", "referred_from_id": "NULL", "referral_reference": "''",
            }  # fmt: skip
            columns = [f.column for f in Ticket._meta.concrete_fields]
            cursor.execute(
                f"""
                INSERT INTO routing_ticket ({", ".join(columns)})
                SELECT {", ".join(shifted.get(c, c) for c in columns)}
                FROM routing_ticket WHERE id <= {max_ticket} ORDER BY id LIMIT {take}
                """
            )
            cursor.execute(
                f"""
                INSERT INTO routing_ticketsignature (ticket_id, terms, issue_id, similarity, registered_at)
                SELECT s.ticket_id + {t_off}, s.terms, s.issue_id + {i_off}, s.similarity, s.registered_at - {shift}
                FROM routing_ticketsignature s WHERE s.ticket_id <= {max_ticket} AND EXISTS (SELECT 1 FROM routing_ticket t WHERE t.id = s.ticket_id + {t_off})
                """
            )
            count += take
            month += 1
            print(f"  scaled to {count} tickets", flush=True)
        for table in ("routing_ticket", "routing_hotissue"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")
    return {"tickets": count, "seconds": round(time.monotonic() - started, 1), "months": month - 1}


def recluster() -> dict:
    """Forget the imported month's issues and signatures (not the copies'), then cluster its tickets again."""
    from routing import hotissues
    from routing.models import HotIssue, Ticket, TicketSignature

    month = list(Ticket.objects.exclude(number__startswith="S").values_list("pk", flat=True))
    issues = set(TicketSignature.objects.filter(ticket_id__in=month).values_list("issue_id", flat=True))
    TicketSignature.objects.filter(ticket_id__in=month).delete()
    HotIssue.objects.filter(pk__in=issues).delete()
    started = time.monotonic()
    done = hotissues.cluster_tickets(month)
    seconds = round(time.monotonic() - started, 1)
    print(f"clustered {done['tickets']} tickets into {done['issues']} issues in {seconds} s", flush=True)
    return {**done, "seconds": seconds, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def measure(base: str, *, auth: dict, requests: list[tuple[str, str, dict | None]], label: str) -> dict:
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    latencies, sizes = [], []
    for method, path, body in requests:
        started = time.perf_counter()
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={**auth, "Accept": "application/json", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"{label}: {method} {path} → {response.status} {data[:300]!r}")
        sizes.append(len(data))
    conn.close()
    summary = harness.summarize(latencies[5:] if len(latencies) > 20 else latencies)  # the first few warm the caches
    print(f"  {label:<52} p50 {summary.p50_ms:7.1f} ms   p95 {summary.p95_ms:7.1f} ms   ({summary.count} requests, {sum(sizes) // len(sizes)} bytes)")
    return {"label": label, "example": requests[0][1], **summary.__dict__, "bytes": sum(sizes) // len(sizes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--scale", type=int, default=0, help="grow the database to this many tickets before the API is measured")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="measure the API on the hotline_bench_hot a previous run left")
    parser.add_argument("--recluster", action="store_true", help="with --reuse: forget the imported month's issues and cluster its tickets again (timed)")
    args = parser.parse_args()

    result = {"benchmark": "hotissues", "rows": args.rows, "scale": args.scale, "machine": harness.machine()}
    reuse = args.reuse and harness.database_exists(DATABASE)
    if not reuse:
        harness.recreate_database(DATABASE)
    result["migrate_seconds"] = round(harness.migrate(DATABASE), 1)
    harness.setup_django(DATABASE)
    from django.db.models import Max
    from rest_framework.authtoken.models import Token

    from routing import demo, imports
    from routing.models import HotIssue, Ticket, User
    from routing.roles import Role

    if not reuse:
        demo.load_categories()
        export = harness.RESULTS / f"import-{args.rows}.csv"
        export.parent.mkdir(parents=True, exist_ok=True)
        write_export(export, args.rows)
        print(f"wrote {export} ({export.stat().st_size // 1_000_000} MB)")
        last_call: dict[str, float] = {}  # stage → when it last reported (stages run one after the other)
        started = time.monotonic()

        def progress(stage: str, done: int, total: int) -> None:
            last_call[stage] = time.monotonic()
            if total and done == total:
                print(f"  {stage}: {done} rows at {last_call[stage] - started:.1f} s", flush=True)

        report = imports.import_file(export, progress=progress)
        total_seconds = time.monotonic() - started
        stages, previous = {}, started
        for stage, at in last_call.items():
            stages[stage] = round(at - previous, 1)
            previous = at
        result["import"] = {
            "rows": report.rows, "imported": report.imported, "rejected": len(report.rejected), "issues": report.clustering.get("issues"),
            "seconds": round(total_seconds, 1), "rows_per_second": round(report.imported / total_seconds), "stages_seconds": stages,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }  # fmt: skip
        print(f"imported {report.imported} rows in {total_seconds:.1f} s ({result['import']['rows_per_second']} rows/s), {report.clustering}")
        sizes = list(HotIssue.objects.filter(count__gte=2).values_list("count", flat=True))
        result["issues"] = {"with_2_or_more": len(sizes), "largest": max(sizes, default=0), "all": HotIssue.objects.count()}

        if args.scale:
            result["scaled"] = scale_to(args.scale)
    elif args.recluster:
        result["recluster"] = recluster()
    result["tickets"] = Ticket.objects.count()
    result["hot_issue_rows"] = HotIssue.objects.count()
    supervisor, _ = User.objects.get_or_create(username="bench-hot-supervisor", defaults={"role": Role.SUPERVISOR})
    agent, _ = User.objects.get_or_create(username="bench-hot-agent", defaults={"role": Role.AGENT})
    tokens = {u.username: Token.objects.get_or_create(user=u)[0].key for u in (supervisor, agent)}
    newest = Ticket.objects.aggregate(m=Max("registered_at"))["m"]
    month_ago = (newest - dt.timedelta(days=75)).isoformat()
    month_end = (newest - dt.timedelta(days=45)).isoformat()
    year_ago = (newest - dt.timedelta(days=365)).isoformat()
    texts = [t for t in Ticket.objects.order_by("?").values_list("description", flat=True)[: args.requests]]
    n = args.requests
    from urllib.parse import quote

    with harness.Daphne(DATABASE, log=harness.RESULTS / "hotissues-daphne.log") as daphne:
        sup = {"Authorization": f"Token {tokens['bench-hot-supervisor']}"}
        ag = {"Authorization": f"Token {tokens['bench-hot-agent']}"}
        runs = [
            (sup, [("GET", "/api/v1/hotspots/issues/", None)] * n, "hot issues, last 30 days (default)"),
            (sup, [("GET", f"/api/v1/hotspots/issues/?from={quote(month_ago)}&to={quote(month_end)}&limit=50", None)] * n, "hot issues, an older month, limit 50"),
            (sup, [("GET", f"/api/v1/hotspots/issues/?from={quote(year_ago)}&limit=100", None)] * n, "hot issues, a whole year, limit 100"),
            (ag, [("POST", "/api/v1/repeats/", {"text": t[:2000], "phone": "13800001234"}) for t in texts], "repeats for a message being registered"),
        ]
        result["endpoints"] = [measure(daphne.base, auth=a, requests=r, label=label) for a, r, label in runs]
        result["daphne_rss_mb"] = daphne.rss_mb()
    path = harness.save("hotissues", result)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
