"""What the benchmarks share: a benchmark database, project processes, percentiles, the machine's state.

Benchmarks are run by hand (docs/BENCHMARKS.md has the commands), never by the
test suite. They use the PostgreSQL server of ``DATABASE_URL`` but their own
databases (``hotline_bench*``), created and migrated here; the database named
by ``DATABASE_URL`` itself is never touched.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = ROOT / "var" / "benchmarks"
BENCH_SECRET_KEY = "benchmark-only-secret-key-0123456789-abcdefghij"


def server_url() -> str:
    """The PostgreSQL server of DATABASE_URL (the benchmarks add their own databases to it)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("benchmarks: set DATABASE_URL to a PostgreSQL URL (e.g. postgres://hotline@127.0.0.1:54329/hotline)")
    return url


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _admin_connection():
    import psycopg

    parts = urlsplit(server_url())
    return psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres", autocommit=True)


def database_exists(name: str) -> bool:
    with _admin_connection() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def recreate_database(name: str) -> None:
    """Drop (if there) and create ``name``; only names starting with hotline_bench are accepted."""
    if not name.startswith("hotline_bench"):
        raise SystemExit(f"benchmarks: refusing to drop {name!r}: benchmark databases are named hotline_bench*")
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def project_env(database: str, **overrides: str) -> dict[str, str]:
    """The environment of a project process (and of this one, via ``setup_django``) on ``database``."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(database),
        SECRET_KEY=os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="false",
        SERVE_STATIC="false",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="hotline.settings",
    )
    env.update(overrides)
    return env


def setup_django(database: str, **overrides: str) -> None:
    """Configure Django in this process for ``database`` (call before importing models)."""
    os.environ.update(project_env(database, **overrides))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate(database: str) -> float:
    started = time.monotonic()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=project_env(database), check=True)
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daphne:
    """One daphne process of the project on a free port, ended on exit."""

    def __init__(self, database: str, *, log: Path, **env: str):
        self.port = free_port()
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")
        daphne = str(Path(PYTHON).parent / "daphne")
        self.process = subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(self.port), "hotline.asgi:application"],
            cwd=ROOT, env=project_env(database, **env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"daphne exited, see {log}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=5):
                    break
            except urllib.error.HTTPError:
                break  # 503 names a backing service that is down; daphne itself answers
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"daphne did not answer within 90 s, see {log}")
                time.sleep(0.3)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the daphne process, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self._log.close()

    def __enter__(self) -> "Daphne":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Summary:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def row(self) -> str:
        return f"{self.count} | {self.p50_ms:.1f} | {self.p95_ms:.1f} | {self.p99_ms:.1f} | {self.max_ms:.1f}"


def summarize(seconds: list[float]) -> Summary:
    """Percentiles (nearest rank) of latencies given in seconds, reported in milliseconds."""
    if not seconds:
        return Summary(0, *([float("nan")] * 5))
    ordered = sorted(seconds)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] * 1000

    return Summary(len(ordered), rank(50), rank(95), rank(99), ordered[-1] * 1000, statistics.fmean(ordered) * 1000)


def machine() -> dict:
    """What the numbers ran on: CPUs, load (other engineers share this machine), versions."""
    import django

    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_1_5_15": [round(v, 2) for v in load],
        "python": platform.python_version(),
        "django": django.get_version(),
        "kernel": platform.release(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def save(name: str, result: dict) -> Path:
    """Write a run's figures to var/benchmarks/<name>-<time>.json (the document quotes them)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path
