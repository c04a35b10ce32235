"""Ticket intake through the HTTP API on PostgreSQL, and pgbench's single-row insert rate on the same server.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline REDIS_URL=redis://127.0.0.1:63799/7 \\
        .venv/bin/python -m benchmarks.intake --clients 4 --seconds 30 [--conn-max-age 60]

1. a fresh database ``hotline_bench_intake`` (migrated), one agent with an API token;
2. one daphne process; ``--clients`` threads POST /api/v1/tickets/ for ``--seconds``
   (keep-alive connections, one in three calls from a returning citizen);
3. what one intake costs in SQL (statements and transactions, counted in-process);
4. pgbench, same server, same number of clients and seconds: one INSERT of one
   row per transaction into a table with a primary key and an index;
5. tickets/s, p50/p95 latency, inserts/s, and the ratio.

The outbox worker does not run: this measures taking a request in, not
delivering its SMS, live update and index update afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import subprocess
import threading
import time
from urllib.parse import urlsplit

from benchmarks import harness

DATABASE = "hotline_bench_intake"
CLASSIFIER = False  # --classifier
PGBENCH_SCRIPT = "INSERT INTO bench_insert (payload, created_at) VALUES (md5(random()::text), now());\n"


def prepare() -> str:
    """The database, the agent and its token; returns the token."""
    harness.recreate_database(DATABASE)
    took = harness.migrate(DATABASE)
    print(f"database {DATABASE} created and migrated in {took:.0f} s")
    harness.setup_django(DATABASE)
    from rest_framework.authtoken.models import Token

    from routing.models import Category, User
    from routing.roles import Role

    if CLASSIFIER:  # the demo's tree and rules, and the bootstrap model: every ticket is classified at intake
        from routing import demo
        from routing.intelligence import training

        demo.load_categories()
        demo.load_rules(demo.load_departments(demo.load_areas()))
        training.train(include_tickets=False)
    else:
        top = Category.objects.create(code="b01", name="城乡建设")
        mid = Category.objects.create(code="b0101", name="市政管理", parent=top)
        Category.objects.create(code="b010101", name="路灯", parent=mid)
    agent = User.objects.create(username="bench-agent", role=Role.AGENT)
    return Token.objects.create(user=agent).key


def body(n: int) -> bytes:
    # A returning citizen one time in three: the citizen look-up finds them by digest.
    phone = f"139{random.randrange(0, 300):08d}" if n % 3 == 0 else f"13{random.randrange(0, 10**9):09d}"
    return json.dumps(
        {
            "channel": "phone",
            "type": "complaint",
            "description": f"东华街道 {n} 号门口的路灯不亮已经一周了，晚上走路很危险，请尽快维修。",
            "address": f"示范市东城区东华街道 {n} 号",
            "citizen": {"name": "张女士", "phone": phone},
        },
        ensure_ascii=False,
    ).encode()


def sql_per_intake(token_user: str) -> dict:
    """Statements and transactions of one intake, through the same view, in this process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from routing.models import User

    client = APIClient()
    client.force_authenticate(User.objects.get(username=token_user))
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/tickets/", body(1), content_type="application/json", HTTP_HOST="127.0.0.1")
    assert response.status_code == 201, response.content
    statements = [q["sql"] for q in queries.captured_queries]
    return {
        "statements": len(statements),
        "savepoints": sum(1 for s in statements if s.startswith("SAVEPOINT")),
        "writes": sum(1 for s in statements if s.split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}),
    }


def run_http(base: str, token: str, *, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**9))
    host = urlsplit(base)

    def client_loop():
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        mine: list[float] = []
        while time.monotonic() < stop_at:
            payload = body(next(counter))
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/tickets/", payload, {"Authorization": f"Token {token}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 201:
                    with lock:
                        errors.append(str(response.status))
                    continue
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
                continue
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    summary = harness.summarize(latencies)
    return {"tickets": summary.count, "seconds": round(elapsed, 1), "per_second": round(summary.count / elapsed, 1), "latency_ms": summary.__dict__, "errors": errors[:20], "error_count": len(errors)}


def run_pgbench(*, clients: int, seconds: int, workdir) -> dict:
    """pgbench -n -f insert.sql on the benchmark database: one single-row INSERT per transaction."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_insert")
        cursor.execute("CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL)")
        cursor.execute("CREATE INDEX bench_insert_created ON bench_insert (created_at)")
    script = workdir / "insert.sql"
    script.write_text(PGBENCH_SCRIPT, encoding="utf-8")
    parts = urlsplit(harness.database_url(DATABASE))
    command = [
        "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f", str(script),
        "-h", parts.hostname, "-p", str(parts.port or 5432), "-U", parts.username, DATABASE,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    return {"command": " ".join(command), "per_second": round(tps, 1), "latency_avg_ms": float(latency.group(1)) if latency else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--classifier", action="store_true", help="the demo's category tree and the bootstrap model: every ticket is classified at intake")
    parser.add_argument("--conn-max-age", type=int, default=0, help="DB_CONN_MAX_AGE of the daphne process (the project's default is 0: a connection per request)")
    args = parser.parse_args()
    global CLASSIFIER
    CLASSIFIER = args.classifier

    token = prepare()
    result = {"benchmark": "intake", "classifier": args.classifier, "clients": args.clients, "seconds": args.seconds, "conn_max_age": args.conn_max_age, "machine": harness.machine()}
    result["sql_per_intake"] = sql_per_intake("bench-agent")
    with harness.Daphne(DATABASE, log=harness.RESULTS / "intake-daphne.log", DB_CONN_MAX_AGE=str(args.conn_max_age)) as daphne:
        run_http(daphne.base, token, clients=args.clients, seconds=3)  # warm-up: imports, connections, caches
        result["http"] = run_http(daphne.base, token, clients=args.clients, seconds=args.seconds)
    result["pgbench"] = run_pgbench(clients=args.clients, seconds=args.seconds, workdir=harness.RESULTS)
    result["ratio_pgbench_to_http"] = round(result["pgbench"]["per_second"] / max(result["http"]["per_second"], 0.1), 1)
    result["machine"]["load_after"] = harness.machine()["load_1_5_15"]
    path = harness.save("intake", result)
    http_ = result["http"]
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(
        f"\nintake: {http_['per_second']} tickets/s (p50 {http_['latency_ms']['p50_ms']:.1f} ms, p95 {http_['latency_ms']['p95_ms']:.1f} ms, "
        f"{http_['error_count']} errors); pgbench: {result['pgbench']['per_second']} inserts/s; ratio {result['ratio_pgbench_to_http']}×; saved {path}"
    )


if __name__ == "__main__":
    main()
