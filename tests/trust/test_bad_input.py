"""Bad input: schemathesis against /api/schema/, XSS payloads in every page, uploads by content, oversize bodies."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as project_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import checks, openapi
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.modes import GenerationMode

from hotline import limits
from routing import actions
from routing.models import Attachment, Ticket, TicketEvent, User
from routing.roles import Role
from services.public.forms import new_form_token
from tests.trust.conftest import CITIZEN_PHONE, staff_client

ROOT = Path(__file__).resolve().parents[2]

# --- schemathesis ------------------------------------------------------------------------------
# Bounded: GET and POST only, a few examples per operation and generation mode, no example database,
# derandomized so that a run is reproducible; the whole run stays well under the suite's timeout.
EXAMPLES = 12
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing request is reported as it was
)


@pytest.fixture(scope="module")
def api_schema():
    raw = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert raw.status_code == 200
    return openapi.from_dict(raw.json()).include(method=["GET", "POST"])


def _operations(schema) -> list:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [f"{o.method} {o.path}" for o in operations]
    return operations


# Schema-valid requests that the API refuses with a 400 for a rule a JSON Schema cannot state: a reference
# to a row that does not exist (an id, a code), two fields of which one is needed, a period's order. Only
# schemathesis's positive_data_acceptance check is left out for them; every other check runs.
BUSINESS_RULES = {
    "POST /api/v1/tickets/": "category and area ids must exist; lat and lng come together; a referral's line must be one of the transfer list",
    "POST /api/v1/repeats/": "the area id must exist",
    "POST /api/v1/replies/assess/": "message or ticket: one of the two",
    "POST /api/v1/auth/token/": "a wrong password is a 400 in the API's shape (the lockout counts it)",
    "GET /api/v1/knowledge/search/": "category and department ids must exist",
    "GET /api/v1/knowledge/tickets/": "at least one of q, number, phone, address",
    "GET /api/v1/hotspots/issues/": "from not after to",
    "GET /api/v1/hotspots/issues/export/": "from not after to",
    "GET /api/v1/kpis/": "from not after to",
    "GET /api/v1/kpis/export/": "from not after to",
    "GET /api/v1/kpis/replies/": "from not after to",
    "GET /api/v1/kpis/disputes/": "from not after to",
    "GET /api/v1/kpis/disputes/export/": "from not after to",
    "POST /api/v1/tickets/{number}/request_return/": "the cited rule must exist; the suggested department must exist and not be the ticket's own",
    "POST /api/v1/tickets/{number}/approve_return/": "the department must exist and not be the disputing one; assisting only with it",
    "POST /api/v1/classify/": "no model is trained in this test database (409)",
    "GET /api/v1/kpis/replies/export/": "from not after to",
    "GET /api/v1/calls/missed/export/": "from not after to",
    "GET /api/v1/kpis/ratings/": "from not after to",
    "GET /api/v1/kpis/ratings/export/": "from not after to",
    "POST /api/v1/tickets/{number}/appeals/": "a rating or red card of the department's own to appeal (409 when there is none)",
    "POST /api/v1/tickets/{number}/kpi-exclusions/": "a rating or red card to leave out (409 when there is none)",
    "POST /api/v1/appeals/{appeal_id}/decide/": "an appeal that exists (404) and waits for its decision (409)",
    "POST /api/v1/tickets/{number}/dispatch/": "the department (code or id) and the category must exist",
    "POST /api/v1/tickets/{number}/sub_dispatch/": "the unit must be one of the lead department's",
    "POST /api/v1/tickets/{number}/merge/": "into: a ticket that exists and may be seen",
    "POST /api/v1/tickets/{number}/callback/": "a citizen reached gives a satisfaction",
    "POST /api/v1/tickets/{number}/request_extension/": "the days within what the extension policy still allows",
    "POST /api/v1/tickets/{number}/transfer/": "the line must be an active one of the transfer list (GET /api/v1/emergency-lines/)",
}


def _all_checks():
    checks.load_all_checks()
    return checks.CHECKS.get_all()


def _fuzz(schema, headers: dict, numbers: list[str]) -> tuple[int, list[str]]:
    """Every GET/POST operation, valid and invalid input, every schemathesis check; returns the requests sent and the failures."""
    everything = _all_checks()
    positive = checks.CHECKS.get_one("positive_data_acceptance")
    sent = {"n": 0}
    failures: list[str] = []
    for operation in _operations(schema):
        label = f"{operation.method.upper()} {operation.path}"
        chosen = [c for c in everything if not (c is positive and label in BUSINESS_RULES)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as exc:  # an operation without anything to make invalid
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{label}: {exc}") from exc

            @FUZZ_SETTINGS
            @given(case=strategy, number=st.sampled_from([None, *numbers]))
            def run(case, number):
                if number is not None and "number" in (case.path_parameters or {}):
                    case.path_parameters["number"] = number
                sent["n"] += 1
                with transaction.atomic():  # one request, one savepoint: a failed statement poisons nothing after it
                    savepoint = transaction.savepoint()
                    try:
                        case.call_and_validate(headers=headers, checks=chosen)
                    except (Failure, FailureGroup) as exc:
                        found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
                        raise AssertionError(f"{label} ({mode.value}): " + " / ".join(f"{type(f).__name__}: {' '.join(str(f).split())[:400]}" for f in found)) from None
                    finally:
                        transaction.savepoint_rollback(savepoint)

            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, or none with constraints).
                if mode is not GenerationMode.NEGATIVE:
                    raise
            except AssertionError as exc:
                failures.append(str(exc).splitlines()[0])
    return sent["n"], failures


@pytest.mark.parametrize("body", ['405', '["tr-laoli", "pw"]', '{"username": "tr-\\u0000laoli", "password": "wrong-password"}'])
def test_the_token_endpoint_answers_malformed_bodies_with_400(body, db):
    client = Client(raise_request_exception=False)
    with transaction.atomic():
        response = client.post("/api/v1/auth/token/", body, content_type="application/json")
        if response.status_code >= 500:
            transaction.set_rollback(True)
    assert response.status_code == 400, response.status_code


@pytest.mark.slow
@pytest.mark.parametrize("role", ["dispatcher", "dept_own"])
def test_schemathesis_with_every_check_finds_nothing(role, world, new_ticket, cast, settings):
    """``--checks all`` (issue 15 item 13): no 5xx, every status, content type, header and body as the schema
    says, invalid input refused, valid input accepted (``BUSINESS_RULES`` aside), auth not ignored."""
    # given: tickets in several states to aim at, a token for the role, the API in-process over WSGI
    settings.PUBLIC_RATE_LIMITS = {}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    closed = actions.resolve_ticket(new_ticket(citizen_phone="13700000009"), answer="已答复", by=cast["agent"])
    token, _ = Token.objects.get_or_create(user=cast[role])
    started = time.monotonic()
    request_started.disconnect(close_old_connections)  # as Django's test client does: keep the test's transaction
    request_finished.disconnect(close_old_connections)
    try:
        schema = openapi.from_wsgi("/api/schema/", WSGIHandler()).include(method=["GET", "POST"])
        # when
        sent, failures = _fuzz(schema, {"Authorization": f"Token {token.key}"}, [world.number, closed.number])
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    # then
    assert not failures, "\n".join(failures)
    assert sent >= 300
    assert time.monotonic() - started < 400


def test_the_schema_documents_the_public_endpoints_too(api_schema):
    """API.md: /api/schema/ is the OpenAPI of "all of the above" — the tracking API included."""
    paths = {operation.path for operation in _operations(api_schema)}
    assert "/api/v1/public/track/" in paths


# --- XSS payloads in every page that shows them ----------------------------------------------------
PAYLOAD = '"><script>alert("xss")</script><img src=x onerror=alert(1)>'


def _assert_escaped(html: str, where: str) -> None:
    assert "<script>alert(" not in html, f"{where}: the payload is rendered as markup"
    assert "<img src=x onerror" not in html, f"{where}: the payload's handler is markup"
    # shown, escaped (as HTML text, or inside escaped JSON on a timeline entry)
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html, f"{where}: the payload is not shown (escaped) at all"


@pytest.fixture
def hostile(cast, departments, new_ticket):
    """A ticket whose every free-text field is a payload, walked to the citizen's rating."""
    ticket = new_ticket(description=f"路灯 {PAYLOAD}", address=PAYLOAD, title=PAYLOAD, citizen_name=PAYLOAD, citizen_phone=CITIZEN_PHONE)
    ticket = actions.dispatch_ticket(ticket, department=departments["own"], by=cast["dispatcher"])
    ticket = actions.accept_ticket(ticket, by=cast["dept_own"])
    actions.add_note(ticket, text=PAYLOAD, by=cast["dept_own"])
    ticket = actions.reply_ticket(ticket, founded=True, solved=True, text=PAYLOAD, basis=PAYLOAD, by=cast["dept_own"])
    ticket = actions.approve_reply(ticket, by=cast["dispatcher"])
    return ticket


def _superuser() -> User:
    return User.objects.create(username="tr-root", is_staff=True, is_superuser=True, role=Role.SUPERVISOR)


def _latest_text_event(ticket: Ticket) -> TicketEvent:
    return TicketEvent.objects.filter(ticket=ticket, data__has_key="text").latest("created_at", "id")


# (name, who, how to fetch the page) — adding a page that shows ticket or chat text is one line.
PAGES = [
    ("tracking page", None, lambda c, t: c.post("/track/", {"action": "lookup", "number": t.number, "phone": CITIZEN_PHONE})),
    ("ticket page, dispatcher", "dispatcher", lambda c, t: c.get(f"/tickets/{t.number}/")),
    ("ticket page, department", "dept_own", lambda c, t: c.get(f"/tickets/{t.number}/")),
    ("agent console (callbacks)", "agent", lambda c, t: c.get("/console/")),
    ("callback queue", "agent", lambda c, t: c.get("/console/callbacks/")),
    ("admin: ticket", "superuser", lambda c, t: c.get(f"/admin/routing/ticket/{t.pk}/change/")),
    ("admin: timeline entry", "superuser", lambda c, t: c.get(f"/admin/routing/ticketevent/{_latest_text_event(t).pk}/change/")),
]


@pytest.mark.parametrize("name,who,fetch", PAGES, ids=[p[0] for p in PAGES])
def test_payloads_in_ticket_text_are_escaped_in_pages(name, who, fetch, hostile, cast):
    client = Client()
    if who == "superuser":
        client.force_login(_superuser())
    elif who is not None:
        client.force_login(cast[who])
    response = fetch(client, hostile)
    assert response.status_code == 200, f"{name}: {response.status_code}"
    _assert_escaped(response.content.decode(), name)


def test_payloads_come_back_as_plain_strings_from_the_api(hostile, client_for):
    """JSON carries the text as it was typed; it is the page's job to escape it (and the JS never uses innerHTML)."""
    body = client_for("dispatcher").get(f"/api/v1/tickets/{hostile.number}/").json()
    assert body["description"] == f"路灯 {PAYLOAD}" and body["citizen"]["name"] == PAYLOAD
    assert client_for("dispatcher").get(f"/api/v1/tickets/{hostile.number}/")["Content-Type"] == "application/json"


# Each allowed HTML sink, by file and exact line, with why it is safe.
ALLOWED_SINKS = {
    ("frontend/static/js/hotline.js", "region.innerHTML = html;"): "a region replaced by an HTML fragment the server rendered with Django's autoescape",
}


def test_no_script_of_ours_builds_html_from_strings():
    """Chat messages, tickets and articles reach the browser as JSON; our scripts must insert them as text."""
    scripts = [p for p in ROOT.glob("*/static/**/*.js") if "node_modules" not in p.parts and "vendor" not in p.parts]
    scripts += [p for p in ROOT.glob("services/*/static/**/*.js")]
    assert scripts, "no scripts found"
    sinks = re.compile(r"\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in scripts
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if sinks.search(line) and (str(p.relative_to(ROOT)), line.strip()) not in ALLOWED_SINKS
    ]
    assert offenders == []


def test_chat_text_with_a_payload_is_escaped_where_the_transcript_is_shown(cast):
    from services.public import chat
    from services.public.models import ChatMessage

    # given: a chat whose citizen sends the payload, registered and ended by the agent
    session = chat.start_session(name=PAYLOAD, phone="13700002222")
    chat.post_message(session, sender=ChatMessage.Sender.CITIZEN, text=PAYLOAD)
    session = chat.join(session, agent=cast["agent"])
    chat.post_message(session, sender=ChatMessage.Sender.CITIZEN, text=f"再说一遍 {PAYLOAD}")
    ticket, _created = chat.register_from_chat(session, agent=cast["agent"], description="")
    chat.end(chat.session_for_staff(session.pk), by=cast["agent"])
    transcript = TicketEvent.objects.get(ticket=ticket, kind=chat.TRANSCRIPT_KIND)
    assert PAYLOAD in transcript.data["text"]

    # then: the pages that show the transcript or the chat show the payload as text
    client = Client()
    client.force_login(_superuser())
    pages = {name: fetch for name, who, fetch in PAGES if who in {"superuser", "dispatcher"}}
    pages["admin: chat session"] = lambda c, t: c.get(f"/admin/public_desk/chatsession/{session.pk}/change/")
    for name, fetch in pages.items():
        response = fetch(client, ticket)
        assert response.status_code == 200, name
        _assert_escaped(response.content.decode(), name)


def test_article_bodies_are_sanitized_and_search_snippets_escaped(cast, places, settings):
    from knowledge import actions as kb, search
    from knowledge.actions import ArticleContent
    from routing import outbox

    body = f"如何报修路灯。\n\n{PAYLOAD}\n\n[点我](javascript:alert(1)) <iframe src=//evil></iframe>"
    search.delete_all()
    try:
        article = kb.create_article(content=ArticleContent(title=f"路灯报修 {PAYLOAD}", body=body, category=places["lamp"]), by=cast["dept_own"])
        article = kb.submit_article(article, by=cast["dept_own"])
        article = kb.approve_article(article, by=cast["supervisor"])
        outbox.drain()
        search.refresh()
        client = staff_client(cast["agent"])
        detail = client.get(f"/api/v1/knowledge/articles/{article.pk}/").json()
        for bad in ("<script", "onerror", "javascript:", "<iframe", "<img"):
            assert bad not in detail["body_html"].lower(), bad
        hits = client.get("/api/v1/knowledge/search/", {"q": "路灯报修"}).json()["results"]
        assert hits, "the article is not found"
        for hit in hits:
            assert "<script" not in hit["highlight"] and "<img" not in hit["highlight"], hit["highlight"]
    finally:
        search.delete_all()


# --- uploads are checked by their content --------------------------------------------------------
def _report(client: Client, files: list) -> object:
    data = {"form_token": new_form_token(), "type": "help", "description": "门口积水", "phone": "13700003333", "homepage": "", "attachments": files}
    return client.post("/report/", data)


@pytest.mark.parametrize(
    "name,content",
    [
        ("photo.jpg", b"<html><script>alert(1)</script></html>"),
        ("scan.pdf", b"MZ\x90\x00\x03\x00\x00\x00 windows executable"),
        ("image.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("archive.gif", b"PK\x03\x04 zip file"),
    ],
)
def test_a_file_whose_bytes_are_not_an_allowed_type_is_refused_whatever_its_name(name, content, places):
    before = Ticket.objects.count()
    response = _report(Client(), [SimpleUploadedFile(name, content, content_type="image/jpeg")])
    assert response.status_code == 400
    assert Ticket.objects.count() == before and Attachment.objects.count() == 0


def test_an_image_named_like_a_page_is_stored_as_the_image_it_is(places):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = _report(Client(), [SimpleUploadedFile("../../evil.html", png, content_type="text/html")])
    assert response.status_code == 200, response.content[:300]
    attachment = Attachment.objects.get()
    assert attachment.content_type == "image/png"
    assert attachment.original_name == "evil.png" and attachment.file.name.endswith(".png") and ".." not in attachment.file.name


# --- oversize bodies are refused early --------------------------------------------------------------
@pytest.fixture
def size_limit(settings):
    settings.MIDDLEWARE = ["hotline.limits.RequestSizeLimitMiddleware", *[m for m in settings.MIDDLEWARE if m != "hotline.limits.RequestSizeLimitMiddleware"]]
    return settings


def test_an_oversize_api_body_is_413_in_the_error_shape(size_limit, client_for):
    # given: a JSON body one byte over Django's own limit for non-file bodies
    limit = project_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"channel": "phone", "type": "help", "description": "x" * limit})
    before = Ticket.objects.count()

    # when
    response = client_for("agent").post("/api/v1/tickets/", body, content_type="application/json")

    # then
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert response.json()["error"]["details"] == {"max_bytes": limit}
    assert Ticket.objects.count() == before


def test_an_oversize_form_is_413_as_a_page_before_csrf_or_parsing(size_limit, places):
    declared = limits.limit_for("/report/") + 1
    response = Client(enforce_csrf_checks=True).post("/report/", {"description": "x"}, CONTENT_LENGTH=str(declared), HTTP_ACCEPT="text/html")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html") and "提交内容过大" in response.content.decode()


def test_limits_follow_the_path():
    assert limits.limit_for("/api/v1/tickets/") == project_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limits.limit_for("/report/") > 25 * 1024 * 1024


def test_a_malformed_content_length_is_a_400(size_limit):
    response = Client().post("/api/v1/tickets/", "{}", content_type="application/json", CONTENT_LENGTH="12abc")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def _asgi(app, *, headers: list, chunks: list[bytes]) -> tuple[list, bool]:
    """Call an ASGI app with one request; returns what it sent and whether the inner app read the body."""
    sent: list = []
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)] or [{"type": "http.request", "body": b""}]

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/tickets/", "headers": headers, "query_string": b""}
    async_to_sync(app)(scope, receive, send)
    return sent, not pending


def test_the_asgi_layer_refuses_a_declared_oversize_body_without_reading_it():
    called = []

    async def inner(scope, receive, send):
        called.append(True)

    limit = limits.limit_for("/api/v1/tickets/")
    sent, read = _asgi(limits.BodySizeLimit(inner), headers=[(b"content-length", str(limit + 1).encode())], chunks=[b"x"])
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"]["code"] == "too_large"
    assert called == [] and not read


def test_the_asgi_layer_cuts_off_an_undeclared_body_at_the_limit():
    limit = limits.limit_for("/api/v1/tickets/")

    async def reading_app(scope, receive, send):
        # what Django's ASGIHandler does: read until the end, give up on a disconnect
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    chunk = b"x" * (64 * 1024)
    sent, _ = _asgi(limits.BodySizeLimit(reading_app), headers=[], chunks=[chunk] * (limit // len(chunk) + 2))
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]


def test_the_asgi_layer_lets_a_small_body_through():
    async def echo(scope, receive, send):
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    sent, _ = _asgi(limits.BodySizeLimit(echo), headers=[(b"content-length", b"2")], chunks=[b"{}"])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"{}"
