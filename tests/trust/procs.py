"""Throwaway services and project processes for the fault tests, each bounded in time and always cleaned up.

The shared PostgreSQL, Redis and Elasticsearch of the test run are never
stopped: a test that stops a service starts its own instance first
(``RedisServer``, ``ElasticNode``) and stops only that one. Project processes
(``manage.py run_worker``, daphne) run against the test database the test
committed its rows to.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_between(low: int, high: int) -> int:
    """A free port in [low, high], for programs that only take ports in a range."""
    for port in random.sample(range(low, high + 1), high - low + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port between {low} and {high}")


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # a service still starting answers with errors
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child process in its own process group, with its output in a log file; ended by ``stop()``/``kill()``."""

    def __init__(self, args: list[str], *, env: dict | None = None, cwd: Path = ROOT, log: Path):
        self.args = args
        self.log = log
        self._log_file = open(log, "ab")
        self.popen = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, the way a crash or the OOM killer ends a process: no clean-up runs."""
        if self.running():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, *, grace: float = 20) -> None:
        if self.running():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)
        self._log_file.close()

    def output(self, tail: int = 4000) -> str:
        self._log_file.flush()
        return self.log.read_bytes()[-tail:].decode("utf-8", "replace")


# --- a Redis of our own -------------------------------------------------------------
class RedisServer:
    """A redis-server on a free port, without persistence (like the test Redis)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (deploy/redis.sh installs it)"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.process = Process(args, log=self.workdir / "redis.log")
        wait_until(lambda: port_open(self.port), timeout=20, what=f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            wait_until(lambda: not port_open(self.port), timeout=10, what="redis-server to go away")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


# --- an Elasticsearch node of our own -------------------------------------------------------
ES_LIB = ROOT / "var" / "es-lib"
ES_MAIN = "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner"


class ElasticNode:
    """A second Elasticsearch 7.10.2 node (the jars deploy/elasticsearch.sh fetched), on free ports, data in a temp dir."""

    def __init__(self, workdir: Path, *, name: str):
        self.base = workdir / "es"
        self.base.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port_between(9260, 9299)  # the runner refuses HTTP ports above 9299
        self.transport_port = free_port()
        self.cluster = f"fault-{name}-{os.getpid()}"
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _config(self) -> None:
        config = self.base / "node_1" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "elasticsearch.yml").write_text(
            "network.host: 127.0.0.1\n"
            f"transport.port: {self.transport_port}\n"
            "discovery.type: single-node\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            "action.auto_create_index: true\n",
            encoding="utf-8",
        )

    def start(self, *, timeout: float = 240) -> None:
        java = shutil.which("java")
        assert java and any(ES_LIB.glob("elasticsearch-cluster-runner-*.jar")), "run deploy/elasticsearch.sh start once: it installs java and fetches var/es-lib"
        self._config()
        args = [
            java, "-Xms256m", "-Xmx512m", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8", "-Dlog4j2.formatMsgNoLookups=true",
            "-cp", f"{ES_LIB}/*", ES_MAIN, "-basePath", str(self.base), "-numOfNode", "1",
            "-baseHttpPort", str(self.http_port - 1), "-clusterName", self.cluster,
        ]  # fmt: skip
        self.process = Process(args, log=self.base.parent / "es.log")
        wait_until(lambda: self._status() in {"green", "yellow"} or not self.process.running(), timeout=timeout, what=f"Elasticsearch on {self.url}", interval=1)
        assert self.process.running(), f"the node exited while starting:\n{self.process.output()}"

    def _status(self) -> str | None:
        import json

        try:
            with urllib.request.urlopen(f"{self.url}/_cluster/health", timeout=2) as response:
                return json.loads(response.read()).get("status")
        except OSError:
            return None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            wait_until(lambda: not port_open(self.http_port), timeout=30, what="Elasticsearch to go away")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=30)


# --- project processes -----------------------------------------------------------------------
def project_env(database_name: str, **overrides: str) -> dict[str, str]:
    """The environment of a project process: this run's settings, pointed at the test database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    credentials = quote(db["USER"], safe="") + (":" + quote(db["PASSWORD"], safe="") if db.get("PASSWORD") else "")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{database_name}",
        SECRET_KEY=settings.SECRET_KEY,  # the same key: phone digests and signed tokens must match
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="tests.trust.process_settings",
        WORKER_POLL_SECONDS="1",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    if settings.ELASTICSEARCH_URL:
        env["ELASTICSEARCH_URL"] = settings.ELASTICSEARCH_URL
    env["SEARCH_INDEX_PREFIX"] = settings.SEARCH_INDEX_PREFIX
    env.update(overrides)
    return env


def start_worker(env: dict, log: Path) -> Process:
    """``manage.py run_worker``, until stopped."""
    return Process([PYTHON, "manage.py", "run_worker", "--batch", "10"], env=env, log=log)


def start_daphne(env: dict, log: Path, *, application: str = "hotline.asgi:application", timeout: float = 60) -> tuple[Process, int]:
    """One daphne process on a free port; returns it once it answers HTTP."""
    port = free_port()
    daphne = str(Path(PYTHON).parent / "daphne")
    return _answering(Process([daphne, "-b", "127.0.0.1", "-p", str(port), application], env=env, log=log), port, timeout=timeout), port


UNIT = ROOT / "deploy" / "systemd" / "hotline-daphne@.service"


def production_command(port: int) -> list[str]:
    """The ExecStart of ``deploy/systemd/hotline-daphne@.service`` for instance ``port``, run from this checkout."""
    import shlex

    text = UNIT.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    args = shlex.split(line.removeprefix("ExecStart="))
    assert args[0] == "/srv/hotline/.venv/bin/python", args
    return [PYTHON, *(arg.replace("%i", str(port)) for arg in args[1:])]


def start_production_daphne(env: dict, log: Path, *, timeout: float = 60) -> tuple[Process, int]:
    """daphne started exactly as the production unit starts it (its arguments), on a free port."""
    port = free_port()
    return _answering(Process(production_command(port), env=env, log=log), port, timeout=timeout), port


def _answering(process: Process, port: int, *, timeout: float) -> Process:
    def answers() -> bool:
        if not process.running():
            raise AssertionError(f"daphne exited:\n{process.output()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:  # 503 names a service that is down: daphne answers all the same
            return exc.code == 503

    try:
        wait_until(answers, timeout=timeout, what=f"daphne on port {port}", interval=0.3)
    except Exception:
        process.stop()
        raise
    return process


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
