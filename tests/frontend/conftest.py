"""Browser tests: a real daphne (HTTP + WebSocket) and the outbox worker against a database of their own.

The session fixture ``hotline_server`` creates the database ``<DATABASE name>_browser`` on
the test PostgreSQL, migrates it, loads the demo city (``manage.py load_demo``) and
rebuilds the search indices (prefix ``<SEARCH_INDEX_PREFIX>browser``), then starts
``daphne`` and ``manage.py run_worker`` as subprocesses with REDIS_URL set, so live
updates travel the same way as in production. Both are always stopped and the
database dropped at the end.

Chromium is Debian's /usr/bin/chromium driven by Playwright (never ``playwright
install``). Screenshots go to test-results/screenshots/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "demo-12345"
XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_connection(db: dict):
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)


def _recreate_database(db: dict, name: str, *, create: bool = True) -> None:
    with _admin_connection(db) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def _manage(env: dict, *args: str, timeout: int = 300) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}", pytrace=False)
    return result.stdout


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}", pytrace=False)
        try:
            urllib.request.urlopen(url + "/accounts/login/", timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"daphne did not answer within {timeout} s:\n{log.read_text(errors='replace')[-4000:]}", pytrace=False)


@pytest.fixture(scope="session")
def hotline_server(database_url, redis_url):
    """daphne + run_worker on a fresh database with the demo city; yields url, env and a SQL helper."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_browser"
    _recreate_database(db, name)
    workdir = Path(tempfile.mkdtemp(prefix="hotline-browser-"))
    env = {
        **os.environ,
        "DATABASE_URL": _with_db(settings.DATABASE_URL, name),
        "REDIS_URL": redis_url,
        "SEARCH_INDEX_PREFIX": f"{settings.SEARCH_INDEX_PREFIX}browser",
        "VAR_DIR": str(workdir),
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "false",  # plain http on loopback
        "WORKER_POLL_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    for twilio in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"):
        env.pop(twilio, None)
    daphne = worker = None
    try:
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "load_demo")
        _manage(env, "search_reindex", "--no-progress")
        # The English catalogue is built at setup, never committed (.mo).
        _manage(env, "compilemessages", "-l", "en", "--ignore=.venv", "--ignore=frontend/node_modules", "--ignore=var")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        daphne_log = workdir / "daphne.log"
        worker_log = workdir / "worker.log"
        daphne = subprocess.Popen(
            [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "hotline.asgi:application"],
            cwd=ROOT, env=env, stdout=daphne_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"], cwd=ROOT, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_for_http(url, daphne, daphne_log)

        def sql(query: str, params: tuple = ()) -> list[tuple]:
            with psycopg.connect(env["DATABASE_URL"]) as conn:
                return conn.execute(query, params).fetchall()

        yield SimpleNamespace(url=url, env=env, sql=sql, daphne_log=daphne_log, worker_log=worker_log)
    finally:
        _stop(daphne)
        _stop(worker)
        try:
            _recreate_database(db, name, create=False)
        except psycopg.Error:
            pass


def _with_db(url: str, name: str) -> str:
    """The same server URL with another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# Module scope: Playwright's sync API keeps an asyncio loop running in the main thread while it
# lives, which would make every later test in the session look like async code to Django.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test installs it)", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Pages:
    """Opens pages in fresh browser contexts, signed in or not, and records any dialog."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.contexts = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def open(self, username: str | None = None, *, phone: bool = False):
        options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1} if phone else {"viewport": {"width": 1360, "height": 900}}
        context = self.browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
        context.set_default_timeout(15000)
        self.contexts.append(context)
        page = context.new_page()

        def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        if username:
            self.login(page, username)
        return page

    def login(self, page, username: str) -> None:
        page.goto(self.server.url + "/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r".*/$"))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, hotline_server):
    opened = Pages(browser, hotline_server)
    yield opened
    opened.close()


@pytest.fixture
def shot():
    """``shot(page, name)`` saves the viewport to test-results/screenshots/<name>.png."""

    def save(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return save
