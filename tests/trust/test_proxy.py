"""The production front (issue 15, items 2 and 3): daphne as its systemd unit starts it, behind Debian's nginx
with ``deploy/nginx.conf``.

- daphne's access log shows no query string (phones) and no chat token (a credential in the path);
- a client-written ``X-Forwarded-For`` changes nothing: the per-address limits count the address nginx saw.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.trust import procs

pytestmark = pytest.mark.slow

PHONE = "13912345678"
HOST = "hotline.example.gov.cn"  # deploy/nginx.conf's server_name
PRODUCTION_ENV = {  # what /etc/hotline/hotline.env sets besides the services (deploy/systemd/hotline-daphne@.service)
    "SERVE_STATIC": "false",
    "TRUST_X_FORWARDED_PROTO": "true",
    "USE_X_FORWARDED_HOST": "true",
    "DEBUG": "false",
}


def _get(url: str, *, headers: dict | None = None, context: ssl.SSLContext | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=20, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_unit_runs_hotline_serve_with_proxy_headers_on_loopback():
    command = procs.production_command(8001)
    assert command[1:3] == ["-m", "hotline.serve"]
    assert "--proxy-headers" in command and command[command.index("--bind") + 1] == "127.0.0.1"


def test_the_loggable_path_drops_queries_and_chat_tokens():
    from hotline.logs import loggable_path, redact

    assert loggable_path(f"/api/v1/public/track/?number=1&phone={PHONE}") == "/api/v1/public/track/"
    assert loggable_path("/ws/chat/SECRETTOKEN123/") == "/ws/chat/…/"
    assert loggable_path("/ws/agent/chat/?token=abc") == "/ws/agent/chat/"
    assert loggable_path("/tickets/20261207-000001/") == "/tickets/20261207-000001/"
    assert redact("Not Found: /ws/chat/SECRETTOKEN123/") == "Not Found: /ws/chat/…/"
    assert redact(f"GET /track/?number=1&phone={PHONE}&x=1") == "GET /track/?number=1&phone=…&x=1"


@pytest.mark.django_db(transaction=True)
def test_the_production_daphne_logs_requests_without_phones_or_tokens(tmp_path):
    # given: daphne started with the unit's own arguments
    env = procs.project_env(connection.settings_dict["NAME"], **PRODUCTION_ENV)
    log = tmp_path / "daphne.log"
    process, port = procs.start_production_daphne(env, log)
    token = "Tk" + "x" * 40
    try:
        # when: a tracking look-up and a search by caller carry a phone, a chat socket path its token
        base = f"http://127.0.0.1:{port}"
        _get(f"{base}/api/v1/public/track/?number=20261207-000001&phone={PHONE}")
        _get(f"{base}/api/v1/knowledge/tickets/?phone={PHONE}")
        _get(f"{base}/track/?number=20261207-000001&phone={PHONE}")
        _get(f"{base}/ws/chat/{token}/")
    finally:
        process.stop()

    # then: the access log has the requests, and neither the phone nor the token
    text = log.read_text(errors="replace")
    assert re.search(r'"GET /api/v1/public/track/" \d{3}', text), text[-3000:]
    assert '"GET /ws/chat/…/"' in text, text[-3000:]
    assert PHONE not in text and token not in text and "phone=" not in text, text[-3000:]


def test_drf_throttles_count_the_address_not_a_forwarded_header(db):
    """NUM_PROXIES=0: LoginThrottle (30/min) is per REMOTE_ADDR whatever X-Forwarded-For says."""
    from django.core.cache import cache

    cache.clear()
    client = Client(raise_request_exception=False)
    codes = [
        client.post(
            "/api/v1/auth/token/", {"username": f"nobody{i}", "password": "x"}, content_type="application/json",
            REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(31)
    ]  # fmt: skip
    assert codes[-1] == 429 and 429 not in codes[:30], codes


# --- through nginx ---------------------------------------------------------------------------------
def _nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "nginx is missing: deploy/run-tests.sh installs Debian's nginx-light"
    return found


def nginx_site(tmp: Path, *, daphne_port: int, http_port: int, https_port: int) -> str:
    """deploy/nginx.conf for this test: its own ports, certificate and log paths; everything else as shipped."""
    text = (procs.ROOT / "deploy" / "nginx.conf").read_text()
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    servers = re.findall(r"^\s*server 127\.0\.0\.1:80\d\d[^;]*;\n", text, flags=re.M)
    assert len(servers) >= 2, "deploy/nginx.conf's upstream lists the daphne instances"
    text = text.replace(servers[0], f"    server 127.0.0.1:{daphne_port};\n")
    for line in servers[1:]:
        text = text.replace(line, "")
    text = text.replace("/etc/nginx/tls/hotline.crt", str(tmp / "tls.crt")).replace("/etc/nginx/tls/hotline.key", str(tmp / "tls.key"))
    text = text.replace("/var/log/nginx/", f"{tmp}/").replace("/srv/hotline/staticfiles/", f"{procs.ROOT}/staticfiles/")
    return text


def start_nginx(tmp: Path, site: str) -> procs.Process:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
         "-keyout", str(tmp / "tls.key"), "-out", str(tmp / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp / "hotline.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n{temp}\n    access_log {tmp}/default.access.log;\n    include {tmp}/hotline.conf;\n}}\n"
    )
    binary = _nginx_binary()
    test = subprocess.run([binary, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    return procs.Process([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"], log=tmp / "nginx.out")


@pytest.mark.django_db(transaction=True)
def test_a_forged_x_forwarded_for_through_nginx_does_not_dodge_the_per_address_limits(tmp_path, settings):
    # given: the production daphne behind nginx with deploy/nginx.conf
    _nginx_binary()
    env = procs.project_env(connection.settings_dict["NAME"], ALLOWED_HOSTS=f"{HOST},127.0.0.1", **PRODUCTION_ENV)
    daphne, daphne_port = procs.start_production_daphne(env, tmp_path / "daphne.log")
    http_port, https_port = procs.free_port(), procs.free_port()
    nginx = start_nginx(tmp_path, nginx_site(tmp_path, daphne_port=daphne_port, http_port=http_port, https_port=https_port))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    base = f"https://127.0.0.1:{https_port}"
    try:
        procs.wait_until(lambda: _get(f"{base}/healthz", headers={"Host": HOST}, context=context) in (200, 503), timeout=30, what="nginx")

        # when: failed tracking look-ups (10 per address per 10 minutes), each with a new forged address
        codes = [
            _get(f"{base}/api/v1/public/track/?number=20990101-{i:06d}&phone={PHONE}", context=context,
                 headers={"Host": HOST, "X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"})
            for i in range(12)
        ]  # fmt: skip
    finally:
        nginx.stop()
        daphne.stop()

    # then: the limit is reached all the same: every request came from the one address nginx saw
    assert 429 in codes and codes.index(429) <= 10, codes
    access = (tmp_path / "hotline.access.log").read_text()
    assert "127.0.0.1 - [" in access and "198.51.100." not in access and PHONE not in access
