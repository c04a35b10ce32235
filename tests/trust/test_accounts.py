"""Accounts and the public edge: Argon2, lockout, cookie flags, security headers, rate limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.conf import settings as project_settings
from django.contrib.auth.hashers import identify_hasher
from django.test import Client
from rest_framework.test import APIClient

from hotline import security
from routing.models import User
from routing.roles import Role
from services.public import demo
from services.public.forms import new_form_token

PASSWORD = "correct-horse-12345"
TRUST_MIDDLEWARE = ["hotline.limits.RequestSizeLimitMiddleware", "hotline.security.SecurityHeadersMiddleware"]


@pytest.fixture
def staff(db, departments):
    """One account with a real (Argon2) password."""
    return User.objects.create_user(username="tr-pw-laoli", password=PASSWORD, role=Role.DISPATCHER)


@pytest.fixture
def trust_middleware(settings):
    """The project's middleware with the two trust middlewares placed as proposed in docs/SECURITY.md."""
    middleware = [m for m in settings.MIDDLEWARE if m not in TRUST_MIDDLEWARE]
    middleware.insert(0, "hotline.limits.RequestSizeLimitMiddleware")
    middleware.insert(middleware.index("django.middleware.security.SecurityMiddleware") + 1, "hotline.security.SecurityHeadersMiddleware")
    settings.MIDDLEWARE = middleware
    return settings


# --- passwords and lockout -----------------------------------------------------------------
def test_passwords_are_hashed_with_argon2(staff):
    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert staff.password.startswith("argon2$argon2id$")
    assert identify_hasher(staff.password).algorithm == "argon2"
    assert staff.check_password(PASSWORD) and not staff.check_password("wrong")


def _token(client, password: str):
    return client.post("/api/v1/auth/token/", {"username": "tr-pw-laoli", "password": password}, format="json")


def test_the_token_endpoint_locks_an_account_after_repeated_failures(staff, settings):
    # given
    settings.LOGIN_FAILURE_LIMIT = 3
    client = APIClient()

    # when: three wrong passwords
    codes = [_token(client, "wrong-password").status_code for _ in range(3)]

    # then: 401 each time, then the right password is refused as locked, saying so
    assert codes == [401, 401, 401]
    locked = _token(client, PASSWORD)
    assert locked.status_code == 403
    assert locked.json()["error"]["code"] == "locked"
    assert "锁定" in locked.json()["error"]["message"]
    assert "token" not in locked.json()


def test_a_success_before_the_limit_clears_the_failures(staff, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = APIClient()
    for _ in range(2):
        _token(client, "wrong-password")
    assert _token(client, PASSWORD).status_code == 200
    for _ in range(2):
        _token(client, "wrong-password")
    assert _token(client, PASSWORD).status_code == 200


@pytest.mark.parametrize("right_in_burst", [False, True], ids=["wrong-only", "right-password-in-the-burst"])
def test_a_burst_of_parallel_guesses_is_checked_at_most_the_limit(transactional_db, settings, right_in_burst):
    """20 wrong passwords at once on one account (threads, one database connection each, the shared Redis):
    at most LOGIN_FAILURE_LIMIT of them are checked; a right password in the burst gets in only within that budget."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.LOGIN_FAILURE_LIMIT = 5
    User.objects.create_user(username="tr-pw-laoli", password=PASSWORD, role=Role.DISPATCHER)
    passwords = [f"wrong-{i}-password" for i in range(20)] + ([PASSWORD] if right_in_burst else [])
    barrier = threading.Barrier(len(passwords))

    def attempt(password):
        try:
            barrier.wait(timeout=30)
            return _token(APIClient(), password).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        codes = list(pool.map(attempt, passwords))

    checked = [c for c in codes if c in (200, 401)]
    assert len(checked) <= 5, codes
    assert set(codes) <= {200, 401, 403}, codes
    assert codes.count(403) >= len(passwords) - 5
    assert _token(APIClient(), PASSWORD).status_code == (200 if 200 in codes else 403)  # a success clears the count, else locked


def test_the_login_page_shares_the_lockout_and_says_so(staff, settings):
    # given: failures on the API count for the page too (one counter per account)
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        _token(APIClient(), "wrong-password")
    page = Client()
    page.post("/accounts/login/", {"username": "TR-PW-LAOLI ", "password": "wrong-password"})  # the count ignores case and blanks

    # when: the right password on the page
    response = page.post("/accounts/login/", {"username": "tr-pw-laoli", "password": PASSWORD})

    # then
    assert response.status_code == 200
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in page.session


def test_the_login_page_signs_in_and_sets_secure_cookies(staff, trust_middleware):
    # given: DEBUG is off in the tests, as in production, so SECURE_COOKIES defaults to on
    assert project_settings.DEBUG is False and project_settings.SECURE_COOKIES is True
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    csrf = client.cookies["csrftoken"]

    # when
    response = client.post("/accounts/login/", {"username": "tr-pw-laoli", "password": PASSWORD, "csrfmiddlewaretoken": csrf.value})

    # then
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    # and the signed-in answer is not cacheable
    home = client.get("/")
    assert "no-store" in home["Cache-Control"]


def test_the_login_page_refuses_a_post_without_csrf(staff):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "tr-pw-laoli", "password": PASSWORD})
    assert response.status_code == 403


# --- security headers ------------------------------------------------------------------------
PAGES = ["/", "/accounts/login/", "/report/", "/track/", "/chat/", "/api/v1/tickets/", "/healthz"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_answer(path, trust_middleware, places):
    response = Client().get(path)
    csp = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert any(source.startswith("'nonce-") for source in directives["script-src"])
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert not re.search(r"https?://", csp), "nothing may load from another origin"
    assert "camera=()" in response["Permissions-Policy"] and "microphone=()" in response["Permissions-Policy"]
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_each_answer_has_its_own_nonce(trust_middleware):
    first, second = Client().get("/"), Client().get("/")
    assert first["Content-Security-Policy"] != second["Content-Security-Policy"]
    assert security.content_security_policy("abc").count("'nonce-abc'") == 1


def _inline_scripts(html: str) -> list[str]:
    """Inline code a strict policy blocks: <script> without src and nonce, on*= handlers, javascript: URLs."""
    # (json_script's <script type="application/json"> is data: browsers do not run it, CSP does not block it)
    found = [m.group(0)[:80] for m in re.finditer(r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*type=\"application/json\")[^>]*>", html, re.I)]
    found += [m.group(0) for m in re.finditer(r"\son[a-z]+\s*=\s*[\"'][^\"']*", html, re.I)]
    found += [m.group(0) for m in re.finditer(r"javascript:", html, re.I)]
    return found


@pytest.mark.parametrize(
    "path,role",
    [("/", None), ("/accounts/login/", None), ("/report/", None), ("/track/", None), ("/chat/", None), ("/tickets/{number}/", "dispatcher"),
     ("/console/", "agent"), ("/dispatch/", "dispatcher"), ("/department/", "dept_own"), ("/supervisor/", "supervisor"), ("/supervisor/wall/", "supervisor")],
)  # fmt: skip
def test_pages_carry_no_inline_script(path, role, world, cast):
    client = Client()
    if role:
        client.force_login(cast[role])
    response = client.get(path.format(number=world.number))
    assert response.status_code == 200
    assert _inline_scripts(response.content.decode()) == []


def test_the_project_installs_the_trust_middleware():
    middleware = project_settings.MIDDLEWARE
    assert middleware[0] == "hotline.limits.RequestSizeLimitMiddleware"
    assert middleware[middleware.index("django.middleware.security.SecurityMiddleware") + 1] == "hotline.security.SecurityHeadersMiddleware"


# --- rate limits on every public endpoint ------------------------------------------------------
@dataclass(frozen=True)
class Public:
    name: str
    method: str
    path: str
    data: dict
    scope: str | None  # the services.public.ratelimit scope, shrunk to `allowed` for the test
    allowed: int  # requests that pass before the 429
    shape: str  # "json" (API error shape), "open311" (GeoReport error list) or "page" (an HTML page)
    passing: int  # what the requests before the limit answer


def _web_form() -> dict:
    return {"form_token": new_form_token(), "type": "help", "description": "路灯坏了", "phone": "13700007777", "homepage": ""}


# fmt: off
PUBLIC = [
    Public("tracking API, wrong guesses", "GET",  "/api/v1/public/track/",      {"number": "20260101-000001", "phone": "13000000000"}, "track.fail.ip", 3, "json", 404),
    Public("tracking page, wrong guesses","POST", "/track/",                    {"action": "lookup", "number": "20260101-000001", "phone": "13000000000"}, "track.fail.ip", 3, "page", 404),
    Public("tracking API, any look-up",   "GET",  "/api/v1/public/track/",      {"number": "20260101-000001", "phone": "13000000000"}, "track.ip", 2, "json", 404),
    Public("web form",                    "POST", "/report/",                   {}, "report.ip", 2, "page", 200),
    Public("starting a chat",             "POST", "/chat/start/",               {"name": "王女士"}, "chat.start.ip", 2, "json", 201),
    Public("Open311 POST",                "POST", "/open311/v2/requests.json",  {"api_key": demo.DEMO_OPEN311_KEY, "service_code": "tr010101", "description": "路灯坏了", "lat": "39.1", "long": "117.2"}, "open311.post.key", 2, "open311", 200),
    Public("API token",                   "POST", "/api/v1/auth/token/",        {}, None, 30, "json", 400),
]
# fmt: on


@pytest.mark.parametrize("endpoint", PUBLIC, ids=[p.name for p in PUBLIC])
def test_public_endpoints_are_rate_limited(endpoint, settings, places):
    # given
    demo.load()
    if endpoint.scope:
        settings.PUBLIC_RATE_LIMITS = {endpoint.scope: (endpoint.allowed, 600)}
    client = Client()

    # when: one request more than allowed
    responses = []
    for _ in range(endpoint.allowed + 1):
        data = _web_form() if endpoint.path == "/report/" else endpoint.data
        responses.append(client.get(endpoint.path, data) if endpoint.method == "GET" else client.post(endpoint.path, data))

    # then: the ones before pass the limit (whatever they answer), the last is a 429 in the right shape
    assert [r.status_code for r in responses[:-1]] == [endpoint.passing] * endpoint.allowed, [r.content[:200] for r in responses]
    last = responses[-1]
    assert last.status_code == 429, last.content[:300]
    assert int(last.get("Retry-After", "0")) >= 1 or endpoint.scope is None
    if endpoint.shape == "json":
        assert last.json()["error"]["code"] in {"rate_limited", "throttled"}
    elif endpoint.shape == "open311":
        assert last.json()[0]["code"] == 429
    else:
        assert last["Content-Type"].startswith("text/html") and "频繁" in last.content.decode()


# fmt: off
PER_ADDRESS = [
    ("login page",            "POST", "/accounts/login/",          {"username": "nobody", "password": "wrong-password"}, "services.public.ratelimit has no scope for it; lockout is per account only, so one address may try a few passwords on every account"),
    ("Open311 request list",  "GET",  "/open311/v2/requests.json", {},  "services/public/open311/views.py service_requests: GETs (up to 1000 requests per answer) have no limit"),
]
# fmt: on


@pytest.mark.parametrize("name,method,path,data,finding", PER_ADDRESS, ids=[u[0] for u in PER_ADDRESS])
def test_the_login_page_and_open311_reads_are_limited_per_address(name, method, path, data, finding, places):
    # an address of its own (TEST-NET, only a header here), so the count does not spill into other tests
    client = Client(REMOTE_ADDR="192.0.2.77")
    codes = [(client.get(path, data) if method == "GET" else client.post(path, data)).status_code for _ in range(121)]
    assert 429 in codes, f"{name}: 121 requests, no 429 — {finding}"
