"""A chat across two real daphne processes sharing PostgreSQL and the Redis channel layer.

The citizen talks to process A, the agent (signed in over HTTP, with the
session cookie on the socket) to process B; messages cross through Redis.
The processes get their own migrated database (``<name>_e2e``), are bounded
in time and are always killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[3]
DAPHNE = ROOT / ".venv" / "bin" / "daphne"
AGENT = ("pub-e2e-agent", "e2e-agent-password-12345")
STEP_TIMEOUT = 15

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _e2e_database_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") or "hotline"
    return urlunsplit(parts._replace(path=f"/{name}_e2e"))


def _ensure_database(url: str) -> None:
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parts.path.lstrip("/")]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')


def _manage(env: dict, *args: str, stdin: str | None = None) -> None:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def e2e_env(database_url, redis_url, tmp_path):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_e2e_database_url(os.environ.get("DATABASE_URL", database_url)),
        REDIS_URL=redis_url,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_COOKIES="false",
        VAR_DIR=str(tmp_path / "var"),
        LOG_LEVEL="WARNING",
    )
    env.pop("ELASTICSEARCH_URL", None)  # search is not part of this test; the embedded index lives in VAR_DIR
    env.pop("DJANGO_SETTINGS_MODULE", None)
    _ensure_database(env["DATABASE_URL"])
    _manage(env, "migrate", "--noinput")
    create_agent = (
        "from routing.models import User\n"
        f"u, _ = User.objects.get_or_create(username={AGENT[0]!r})\n"
        f"u.role = 'agent'; u.is_active = True; u.set_password({AGENT[1]!r}); u.save()\n"
    )
    _manage(env, "shell", stdin=create_agent)
    return env


@pytest.fixture
def two_daphnes(e2e_env, tmp_path):
    """Two daphne processes on free ports; yields their base URLs; always killed."""
    processes, bases = [], []
    try:
        for name in ("a", "b"):
            port = _free_port()
            log = open(tmp_path / f"daphne-{name}.log", "wb")
            processes.append(
                subprocess.Popen(
                    [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "hotline.asgi:application"],
                    cwd=ROOT, env=e2e_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for base, process in zip(bases, processes):
            while True:
                assert process.poll() is None, (tmp_path / "daphne-a.log").read_text(errors="replace") + (tmp_path / "daphne-b.log").read_text(errors="replace")
                try:
                    if requests.get(f"{base}/chat/", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, f"daphne at {base} did not answer within 60 s"
                time.sleep(0.3)
        yield bases
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _login(base: str) -> str:
    """Sign the agent in through the login page; returns the session cookie."""
    http = requests.Session()
    http.trust_env = False
    page = http.get(f"{base}/accounts/login/", timeout=5)
    assert page.status_code == 200
    response = http.post(
        f"{base}/accounts/login/",
        data={"username": AGENT[0], "password": AGENT[1], "csrfmiddlewaretoken": http.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return http.cookies["sessionid"]


def _start_chat(base: str) -> str:
    http = requests.Session()
    http.trust_env = False
    http.get(f"{base}/chat/", timeout=5)
    response = http.post(f"{base}/chat/start/", data={"name": "跨进程市民"}, headers={"X-CSRFToken": http.cookies["csrftoken"]}, timeout=5)
    assert response.status_code == 201, response.text[:500]
    return response.json()["token"]


async def _next(ws, frame_type: str) -> dict:
    """The next frame of ``frame_type``, skipping presence and lobby updates."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
        if frame["type"] == frame_type:
            return frame


def test_a_message_crosses_from_one_daphne_process_to_the_other(two_daphnes):
    base_a, base_b = two_daphnes
    session_cookie = _login(base_b)
    token = _start_chat(base_a)

    async def conversation():
        citizen_url = base_a.replace("http", "ws") + f"/ws/chat/{token}/"
        agent_url = base_b.replace("http", "ws") + "/ws/agent/chat/"
        async with connect(citizen_url, origin=base_a, proxy=None) as citizen, connect(
            agent_url, origin=base_b, additional_headers={"Cookie": f"sessionid={session_cookie}"}, proxy=None
        ) as agent:
            assert (await _next(citizen, "history"))["messages"] == []
            waiting = await _next(agent, "waiting")
            mine = [s for s in waiting["sessions"] if s["citizen_name"] == "跨进程市民"]
            assert mine, waiting
            session_id = mine[-1]["id"]

            await agent.send(json.dumps({"type": "join", "session": session_id}))
            assert (await _next(agent, "joined"))["session"]["id"] == session_id
            presence = await _next(citizen, "presence")
            assert presence["who"] == "agent" and presence["state"] == "online"

            # citizen on A → agent on B
            await citizen.send(json.dumps({"type": "message", "text": "跨进程的问候"}))
            received = await _next(agent, "message")
            assert received["text"] == "跨进程的问候" and received["sender"] == "citizen"

            # agent on B → citizen on A, typing indicator first
            await agent.send(json.dumps({"type": "typing", "session": session_id, "active": True}))
            assert (await _next(citizen, "typing"))["sender"] == "agent"
            await agent.send(json.dumps({"type": "message", "session": session_id, "text": "您好，已收到"}))
            answer = await _next(citizen, "message")
            while answer["sender"] != "agent":
                answer = await _next(citizen, "message")
            assert answer["text"] == "您好，已收到"

            await agent.send(json.dumps({"type": "end", "session": session_id}))
            await _next(citizen, "closed")

    asyncio.run(asyncio.wait_for(conversation(), 60))
