"""Malformed input from outside (issue 15, items 5 and 6): NUL bytes, deep JSON, too many fields, absurd numbers.

Each is a 400 in the API's error shape (``{"error": {"code", "message", "details"}}``), never a 500, on
PostgreSQL (where a NUL in a query parameter used to reach the database and fail there) as on SQLite
(where ``q=%00`` used to match everything). One rule, in one place: ``hotline.input.MalformedInputMiddleware``
for the query string, the path and form bodies; ``hotline.input.JSONParser`` for JSON bodies.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from routing.models import Ticket
from tests.trust.conftest import staff_client

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000


def _send(client, method: str, path: str, **kwargs):
    with transaction.atomic():
        response = getattr(client, method)(path, **kwargs)
        if response.status_code >= 500:
            transaction.set_rollback(True)
    return response


def _assert_400(response, context):
    assert response.status_code == 400, (context, response.status_code, response.content[:300])
    body = response.json()
    if "/open311/" in context:  # GeoReport's own error list
        assert body[0]["code"] == 400 and body[0]["description"], (context, body)
    else:
        assert body["error"]["code"] and body["error"]["message"], (context, body)


# --- NUL bytes ---------------------------------------------------------------------------------
NUL_GETS = [
    ("dispatcher", "/api/v1/tickets/?q=%00"),
    ("dispatcher", "/api/v1/tickets/?q=%E8%B7%AF%00%E7%81%AF"),
    ("dispatcher", "/api/v1/tickets/?department=%00"),
    ("dispatcher", "/api/v1/tickets/?category=1%00"),
    ("dispatcher", "/api/v1/tickets/?external_id=%00"),
    ("dispatcher", "/api/v1/tickets/?page=1%00"),
    ("dispatcher", "/api/v1/tickets/%00/"),
    ("dispatcher", "/api/v1/tickets/{number}%00/events/"),
    ("dispatcher", "/api/v1/tickets/export/?q=%00&format=csv"),
    ("dispatcher", "/api/v1/repeats/?ticket=%00"),
    ("supervisor", "/api/v1/kpis/?by=%00"),
    ("supervisor", "/api/v1/hotspots/issues/?limit=%00"),
    ("agent", "/api/v1/knowledge/search/?q=%00"),
    ("agent", "/api/v1/knowledge/tickets/?phone=139%0012345678"),
    ("anonymous", "/api/v1/public/track/?number=%00&phone=13912345678"),
    ("anonymous", "/open311/v2/requests.json?service_request_id=%00"),
    ("anonymous", "/open311/v2/requests.json?status=open%00"),
    ("anonymous", "/open311/v2/requests/%00.json"),
    ("anonymous", "/open311/v2/services/%00.json"),
    ("anonymous", "/track/?number=%00&phone=13912345678"),
]


@pytest.mark.parametrize("who,path", NUL_GETS)
def test_a_nul_byte_in_a_query_or_path_is_a_400(who, path, cast, world):
    client = staff_client(None if who == "anonymous" else cast[who])
    response = _send(client, "get", path.format(number=world.number), HTTP_ACCEPT="application/json")
    _assert_400(response, path)


NUL_FORMS = [
    ("anonymous", "/chat/start/", {"name": "张\x00三", "phone": "13912345678"}),
    ("anonymous", "/open311/v2/requests.json", {"service_code": "lamp\x00", "description": "路灯不亮", "lat": "30", "long": "120"}),
    ("dispatcher", "/api/v1/tickets/{number}/merge/", {"into": "\x00"}),
]


@pytest.mark.parametrize("who,path,form", NUL_FORMS)
def test_a_nul_byte_in_a_form_body_is_a_400(who, path, form, cast, world):
    client = staff_client(None if who == "anonymous" else cast[who])
    response = _send(client, "post", path.format(number=world.number), data=form, HTTP_ACCEPT="application/json")
    _assert_400(response, path)


NUL_JSON = [
    ("anonymous", "/api/v1/auth/token/", {"username": "tr-\u0000laoli", "password": "x"}),
    ("agent", "/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "路灯\u0000不亮", "citizen_phone": "13912345678"}),
    ("agent", "/api/v1/classify/", {"text": "路灯\u0000不亮"}),
    ("agent", "/api/v1/knowledge/suggest/", {"text": "\u0000"}),
    ("dispatcher", "/api/v1/tickets/{number}/merge/", {"into": "\u0000"}),
    ("dispatcher", "/api/v1/tickets/{number}/dispatch/", {"department": "x\u0000"}),
    ("dispatcher", "/api/v1/tickets/{number}/reveal/", {"reason": "核实\u0000"}),
    ("dispatcher", "/api/v1/replies/assess/", {"message": "路灯", "reply": "ok", "\u0000": 1}),
]


@pytest.mark.parametrize("who,path,body", NUL_JSON)
def test_a_nul_character_anywhere_in_a_json_body_is_a_400(who, path, body, cast, world):
    client = staff_client(None if who == "anonymous" else cast[who])
    before = Ticket.objects.count()
    response = _send(client, "post", path.format(number=world.number), data=json.dumps(body), content_type="application/json")
    _assert_400(response, path)
    assert Ticket.objects.count() == before


def test_a_nul_query_does_not_match_everything_on_any_database(cast, world):
    """On SQLite ``q=%00`` matched every ticket: it is refused, not searched."""
    response = staff_client(cast["dispatcher"]).get("/api/v1/tickets/", {"q": "\x00"})
    assert response.status_code == 400 and "results" not in response.json()


def test_text_with_an_escaped_backslash_u0000_is_just_text(cast):
    """The JSON text ``"\\\\u0000"`` is a backslash and five characters, not a NUL: accepted."""
    text = '{"message": "路灯坏了 \\\\u0000", "reply": "经核查，已于当日修复。"}'
    response = staff_client(cast["dispatcher"]).post("/api/v1/replies/assess/", data=text, content_type="application/json")
    assert response.status_code == 200, response.content


def test_the_chat_socket_survives_a_deep_frame():
    from services.public.consumers import parse_frame

    assert parse_frame(DEEP) is None
    assert parse_frame('{"type": "message", "text": "你好\\u0000"}') is None
    assert parse_frame('{"type": "message", "text": "你好"}') == {"type": "message", "text": "你好"}


# --- deep JSON, too many fields, absurd numbers ---------------------------------------------------
DEEP_POSTS = [
    ("anonymous", "/api/v1/auth/token/"),
    ("agent", "/api/v1/tickets/"),
    ("agent", "/api/v1/classify/"),
    ("agent", "/api/v1/knowledge/suggest/"),
    ("dispatcher", "/api/v1/tickets/{number}/dispatch/"),
    ("dispatcher", "/api/v1/replies/assess/"),
]


@pytest.mark.parametrize("who,path", DEEP_POSTS)
@pytest.mark.parametrize("payload", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deeply_nested_json_is_a_400(who, path, payload, cast, world):
    client = staff_client(None if who == "anonymous" else cast[who])
    response = _send(client, "post", path.format(number=world.number), data=payload, content_type="application/json")
    _assert_400(response, path)


def test_json_nested_as_deep_as_a_client_needs_is_accepted(cast):
    body = {"channel": "phone", "type": "complaint", "description": "路灯不亮", "citizen_phone": "13912345678", "attributes": {"a": [[{"b": 1}]]}}
    response = staff_client(cast["agent"]).post("/api/v1/tickets/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("who,path", [("dispatcher", "/api/v1/tickets/"), ("anonymous", "/open311/v2/requests.json"), ("anonymous", "/track/")])
def test_more_query_parameters_than_django_accepts_is_a_400_in_the_error_shape(who, path, cast, settings):
    client = staff_client(None if who == "anonymous" else cast[who])
    query = "&".join(f"x{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = _send(client, "get", f"{path}?{query}", HTTP_ACCEPT="application/json")
    _assert_400(response, path)


def test_a_form_with_more_fields_than_django_accepts_is_a_400(settings):
    from django.test import Client

    body = "&".join(f"x{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = Client(raise_request_exception=False).post("/chat/start/", body, content_type="application/x-www-form-urlencoded")
    _assert_400(response, "chat start")


@pytest.mark.parametrize(
    "who,path",
    [
        ("dispatcher", "/api/v1/tickets/?page=99999999999999999999999"),
        ("dispatcher", "/api/v1/tickets/?page=1e400"),
        ("dispatcher", "/api/v1/queues/mine/?page=9223372036854775808"),
        ("agent", "/api/v1/knowledge/search/?q=路灯&page=99999999999"),
        ("agent", "/api/v1/knowledge/search/?q=路灯&page=100000"),
        ("supervisor", "/api/v1/kpis/?from=9999-12-31"),
        ("supervisor", "/api/v1/kpis/export/?from=0001-01-01&to=9999-12-31"),
        ("supervisor", "/api/v1/hotspots/issues/?from=9999-12-31"),
        ("supervisor", "/api/v1/hotspots/issues/?limit=99999999999999999999"),
        ("anonymous", "/open311/v2/requests.json?start_date=9999-12-31T23:59:59Z"),
    ],
)
def test_absurd_numbers_and_dates_are_a_400_or_an_empty_page(who, path, cast, world):
    client = staff_client(None if who == "anonymous" else cast[who])
    response = _send(client, "get", path, HTTP_ACCEPT="application/json")
    if "/knowledge/search/" in path:  # a page past the last one is empty (deeper than the walk: a 400)
        assert response.status_code == 200 and response.json()["results"] == [], (path, response.content[:300])
        return
    assert response.status_code in (400, 404), (path, response.status_code, response.content[:300])
    if "/open311/" not in path:
        assert response.json()["error"]["message"], path
