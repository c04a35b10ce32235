"""The zero-setup demo, as `make run` serves it: SQLite, in-memory channel layer, embedded search,
one `manage.py serve --with-worker` process. A ticket registered over HTTP reaches a signed-in
dispatcher's WebSocket through the outbox, with no Redis anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener
from http.cookiejar import CookieJar

import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(DEBUG="true", VAR_DIR=str(tmp_path), WORKER_POLL_SECONDS="1", SECRET_KEY="demo-server-test-key-" + "x" * 20)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True, timeout=300)
    subprocess.run([*manage, "load_demo"], env=env, cwd=ROOT, check=True, timeout=300, capture_output=True)
    port = free_port()
    process = subprocess.Popen([*manage, "serve", "--port", str(port), "--with-worker"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("demo server did not start: " + process.stdout.read1().decode(errors="replace"))
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def login(base: str, username: str) -> tuple[object, str]:
    jar = CookieJar()
    opener = build_opener(HTTPCookieProcessor(jar))
    opener.open(f"http://{base}/accounts/login/", timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urlencode({"username": username, "password": "demo-12345", "csrfmiddlewaretoken": csrf}).encode()
    opener.open(Request(f"http://{base}/accounts/login/", data=body, headers={"Referer": f"http://{base}/accounts/login/"}), timeout=10).read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert "sessionid=" in cookies, "login failed"
    return opener, cookies


@pytest.mark.slow
def test_a_registered_ticket_reaches_the_dispatchers_websocket_without_redis(demo_server):
    _, dispatcher_cookies = login(demo_server, "dispatcher")
    agent = build_opener()  # token auth, as integrators use the API (no session cookie, so no CSRF)

    async def scenario():
        headers = {"Cookie": dispatcher_cookies, "Origin": f"http://{demo_server}"}
        async with websockets.connect(f"ws://{demo_server}/ws/notifications/", additional_headers=headers, open_timeout=10) as ws:
            # register a ticket through the API as the agent (token auth)
            token_request = Request(
                f"http://{demo_server}/api/v1/auth/token/", data=json.dumps({"username": "agent", "password": "demo-12345"}).encode(), headers={"Content-Type": "application/json"}
            )
            token = json.loads(agent.open(token_request, timeout=10).read())["token"]
            create = Request(
                f"http://{demo_server}/api/v1/tickets/",
                data=json.dumps({"channel": "phone", "type": "help", "description": "演示环境实时推送测试：小区门口井盖缺失"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            )
            number = json.loads(await asyncio.to_thread(lambda: agent.open(create, timeout=10).read()))["number"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                if message.get("number") == number:
                    return message
            raise AssertionError("no live update for the new ticket")

    message = asyncio.run(scenario())
    assert message["type"] == "ticket.changed" and message["kind"] == "ticket.registered" and message["state"] == "registered"
