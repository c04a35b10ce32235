"""Open311 GeoReport v2: every JSON answer checked against the Open311 project's schemas
(copied into open311_schema/), the XML read the way FixMyStreet reads it (every service,
attribute, value, request and error as a list), and the API read by the PyPI georeport client.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import xmltodict
from django.contrib.admin.sites import site as admin_site
from django.test import Client
from django.utils import timezone
from georeport import GeoReport
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from routing import actions
from routing.models import Ticket, TicketEvent
from routing.states import State
from services.public import demo
from services.public.models import Open311ApiKey, Open311Request, hash_api_key

SCHEMA_DIR = Path(__file__).parent / "open311_schema"
BASE = "/open311/v2"
FMS_LISTS = ("service", "attribute", "value", "request", "error")

# --- the schemas -------------------------------------------------------------------------
_resources = {path.name: Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT7) for path in SCHEMA_DIR.glob("*.json")}
REGISTRY = Registry().with_resources(_resources.items())

# The Open311 repository has no schema for these answers; ours follow the GeoReport v2 text.
ERRORS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "object", "required": ["code", "description"], "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}}},
}
CREATED_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "required": ["service_request_id", "service_notice", "account_id"],
        "properties": {
            "service_request_id": {"type": "string"},
            "service_notice": {"type": ["string", "null"]},
            "account_id": {"type": ["string", "null"]},
            "token": {"type": "string"},
        },
    },
}
TOKENS_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "required": ["service_request_id", "token"], "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}}},
}
DISCOVERY_SCHEMA = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string", "format": "date-time"},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"const": "http://wiki.open311.org/GeoReport_v2"},
                    "url": {"type": "string", "format": "uri"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def validate(instance, schema: str | dict) -> None:
    """Validate against a copied Open311 schema (by file name) or one of ours, with formats checked."""
    schema = _resources[schema].contents if isinstance(schema, str) else schema
    validator = jsonschema.Draft7Validator(schema, registry=REGISTRY, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    validator.validate(instance)


def get_json(client: Client, path: str, schema, *, expect: int = 200, **params):
    response = client.get(f"{BASE}/{path}", params)
    assert response.status_code == expect, response.content.decode()
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    validate(body, schema)
    return body


def fms_xml(response, *, status: int = 200) -> dict:
    """Parse XML as FixMyStreet's Open311 module does: the repeated elements always as lists."""
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert b"xmlns" not in response.content
    return xmltodict.parse(response.content, force_list=FMS_LISTS)


def post_request(client: Client, fmt: str = "json", **fields):
    data = {
        "api_key": demo.DEMO_OPEN311_KEY,
        "jurisdiction_id": "shifan.gov.cn",
        "service_code": "pub-010101",
        "lat": "39.915",
        "long": "116.404",
        "description": "东华街道 8 号门口路灯不亮",
        "device_id": "device-1",
        "email": "citizen@example.org",
        "first_name": "伟",
        "last_name": "王",
        "phone": "13800138000",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"{BASE}/requests.{fmt}", data)


@pytest.fixture
def client(db, categories, open311_key):
    return Client(enforce_csrf_checks=True)


# --- discovery, services, definitions ---------------------------------------------------
def test_discovery(client):
    body = get_json(client, "discovery.json", DISCOVERY_SCHEMA)
    assert body["endpoints"][0]["url"] == "http://testserver/open311/v2"
    xml = fms_xml(client.get(f"{BASE}/discovery.xml"))
    assert xml["discovery"]["endpoints"]["endpoint"]["formats"]["format"] == ["text/xml", "application/json"]


def test_services_are_the_level_three_categories(client, categories):
    services = get_json(client, "services.json", "services.json", jurisdiction_id="shifan.gov.cn")
    assert [s["service_code"] for s in services] == ["pub-010101", "pub-010102", "pub-020101"]
    lamp = services[0]
    assert lamp["service_name"] == "路灯" and lamp["group"] == "城乡建设" and lamp["metadata"] is True and lamp["type"] == "realtime"
    assert lamp["keywords"].split(",") == ["路灯", "城市建设和市政管理", "城乡建设"]
    assert services[2]["group"] == "教育文体"


def test_services_xml_read_the_fixmystreet_way(client):
    xml = fms_xml(client.get(f"{BASE}/services.xml", {"jurisdiction_id": "shifan.gov.cn"}))
    services = xml["services"]["service"]
    assert len(services) == 3
    assert services[0]["service_code"] == "pub-010101" and services[0]["metadata"] == "true" and services[0]["group"] == "城乡建设"


def test_service_definition(client):
    body = get_json(client, "services/pub-010101.json", "service-definition.json")
    attributes = {a["code"]: a for a in body["attributes"]}
    assert set(attributes) == {"urgency", "request_type"}
    assert attributes["urgency"]["datatype"] == "singlevaluelist"
    assert [v["key"] for v in attributes["urgency"]["values"]] == ["normal", "urgent", "critical"]
    assert {v["key"] for v in attributes["request_type"]["values"]} == {"inquiry", "help", "complaint", "report", "suggestion", "praise"}
    assert [a["order"] for a in body["attributes"]] == [1, 2]


def test_service_definition_xml_read_the_fixmystreet_way(client):
    xml = fms_xml(client.get(f"{BASE}/services/pub-010101.xml"))
    attributes = xml["service_definition"]["attributes"]["attribute"]
    assert [a["code"] for a in attributes] == ["urgency", "request_type"]
    assert [v["key"] for v in attributes[0]["values"]["value"]] == ["normal", "urgent", "critical"]
    assert attributes[0]["variable"] == "true" and attributes[0]["required"] == "false"


def test_unknown_service_code_is_404_in_both_formats(client):
    body = get_json(client, "services/no-such-code.json", ERRORS_SCHEMA, expect=404)
    assert body[0]["code"] == 404 and "no-such-code" in body[0]["description"]
    xml = fms_xml(client.get(f"{BASE}/services/no-such-code.xml"), status=404)
    assert xml["errors"]["error"][0]["code"] == "404"
    # a level-1 category is not a service
    get_json(client, "services/pub-01.json", ERRORS_SCHEMA, expect=404)


def test_unknown_jurisdiction_is_404(client):
    body = get_json(client, "services.json", ERRORS_SCHEMA, expect=404, jurisdiction_id="elsewhere.gov.cn")
    assert "elsewhere.gov.cn" in body[0]["description"]
    response = post_request(client, jurisdiction_id="elsewhere.gov.cn")
    assert response.status_code == 404
    assert Ticket.objects.count() == 0


def test_the_jurisdiction_is_configurable(client, settings):
    settings.OPEN311_JURISDICTION_ID = "example.city"
    get_json(client, "services.json", "services.json", jurisdiction_id="example.city")
    get_json(client, "services.json", ERRORS_SCHEMA, expect=404, jurisdiction_id="shifan.gov.cn")


def test_unknown_resources_and_methods(client):
    get_json(client, "nothing-here.json", ERRORS_SCHEMA, expect=404)
    assert fms_xml(client.get(f"{BASE}/requests/x/y.xml"), status=404)["errors"]["error"][0]["code"] == "404"
    response = client.post(f"{BASE}/services.json", {"api_key": demo.DEMO_OPEN311_KEY})
    assert response.status_code == 405 and response["Allow"] == "GET"
    validate(response.json(), ERRORS_SCHEMA)


# --- POST requests -----------------------------------------------------------------------
def test_post_creates_one_ticket_through_intake(client, categories):
    # when
    response = post_request(client, **{"attribute[urgency]": "urgent", "attribute[request_type][]": "complaint", "account_id": "acc-7", "media_url": "https://photos.example.org/1.jpg"})
    # then
    assert response.status_code == 200, response.content.decode()
    body = response.json()
    validate(body, CREATED_SCHEMA)
    ticket = Ticket.objects.get()
    assert body[0]["service_request_id"] == ticket.number and body[0]["account_id"] == "acc-7"
    assert ticket.number in body[0]["service_notice"]
    assert ticket.channel == "open311" and ticket.channel_ref.startswith("open311:")
    assert ticket.category == categories["lamp"] and ticket.urgency == "urgent" and ticket.type == "complaint"
    assert ticket.citizen.name == "王伟" and ticket.citizen.phone == "13800138000"
    assert str(ticket.lat) == "39.915000" and str(ticket.lng) == "116.404000"
    extra = Open311Request.objects.get(ticket=ticket)
    assert extra.email == "citizen@example.org" and extra.device_id == "device-1" and extra.attributes == {"urgency": "urgent", "request_type": "complaint"}
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)) == ["ticket.registered"]
    assert Open311ApiKey.objects.get(key_hash=hash_api_key(demo.DEMO_OPEN311_KEY)).last_used_at is not None


def test_post_answer_in_xml_is_read_the_fixmystreet_way(client):
    xml = fms_xml(post_request(client, "xml", address_string="东华街道 8 号", lat=None, long=None))
    request = xml["service_requests"]["request"][0]
    assert request["service_request_id"] == Ticket.objects.get().number
    assert Ticket.objects.get().address == "东华街道 8 号"


def test_address_id_alone_is_a_location(client):
    response = post_request(client, lat=None, long=None, address_id="ADDR-42")
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert "ADDR-42" in ticket.address
    one = get_json(client, f"requests/{ticket.number}.json", "requests.json")
    assert one[0]["address_id"] == "ADDR-42"


def test_an_empty_description_takes_the_service_name(client):
    assert post_request(client, description="").status_code == 200
    assert Ticket.objects.get().description == "路灯"


def test_a_retried_post_is_the_same_request(client):
    first = post_request(client).json()
    second = post_request(client).json()
    assert first == second
    assert Ticket.objects.count() == 1 and Open311Request.objects.count() == 1


def test_a_retry_after_a_day_is_a_new_request(client):
    first = post_request(client).json()
    Open311Request.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    second = post_request(client).json()
    assert first[0]["service_request_id"] != second[0]["service_request_id"]


def test_the_request_token_extension_makes_retries_idempotent_whatever_changes(client):
    first = post_request(client, request_token="client-42").json()
    again = post_request(client, request_token="client-42", description="重试时文字略有不同").json()
    other = post_request(client, request_token="client-43").json()
    assert first == again and other[0]["service_request_id"] != first[0]["service_request_id"]
    assert Ticket.objects.count() == 2


def test_different_content_makes_different_requests(client):
    post_request(client)
    post_request(client, description="另一处路灯也不亮")
    assert Ticket.objects.count() == 2


def test_tokens(client):
    created = post_request(client).json()[0]
    body = get_json(client, f"tokens/{created['token']}.json", TOKENS_SCHEMA)
    assert body == [{"service_request_id": created["service_request_id"], "token": created["token"]}]
    xml = fms_xml(client.get(f"{BASE}/tokens/{created['token']}.xml"))
    assert xml["service_requests"]["request"][0]["service_request_id"] == created["service_request_id"]
    get_json(client, "tokens/unknown-token.json", ERRORS_SCHEMA, expect=404)


@pytest.mark.parametrize("api_key", [None, "", "wrong-key"])
def test_post_without_a_valid_key_is_403(client, api_key):
    response = post_request(client, api_key=api_key)
    assert response.status_code == 403
    validate(response.json(), ERRORS_SCHEMA)
    assert Ticket.objects.count() == 0


def test_a_deactivated_key_is_403(client):
    Open311ApiKey.objects.update(active=False)
    assert post_request(client).status_code == 403
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"service_code": None}, "缺少 service_code"),
        ({"service_code": "no-such"}, "service_code「no-such」不存在"),
        ({"service_code": "pub-01"}, "不存在"),
        ({"lat": None, "long": None}, "须提供位置"),
        ({"lat": "", "long": ""}, "须提供位置"),
        ({"long": None}, "lat 与 long 须同时提供"),
        ({"lat": "north", "long": "116"}, "lat 须为数字"),
        ({"lat": "91", "long": "116"}, "lat 超出范围"),
        ({"lat": "NaN", "long": "116"}, "lat 超出范围"),
        ({"long": "181"}, "long 超出范围"),
        ({"description": "长" * 4001}, "description 最多 4000 字"),
        ({"address_string": "路" * 301}, "address_string 最多 300 字"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"media_url": "not a url"}, "media_url"),
        ({"email": "not-an-email"}, "email 格式不正确"),
        ({"phone": "12"}, "电话号码格式不正确"),
        ({"first_name": "名" * 51}, "first_name 最多 50 个字符"),
        ({"request_token": "has spaces in it"}, "request_token"),
        ({"attribute[urgency]": "apocalyptic"}, "属性「urgency」的取值「apocalyptic」无效"),
        ({"attribute[colour]": "red"}, "未知属性「colour」"),
        ({"attribute[urgency": "urgent"}, "参数名「attribute[urgency」格式不正确"),
        ({"attribute[]": "urgent"}, "参数名「attribute[]」格式不正确"),
        ({"attribute[urgency][x]": "urgent"}, "格式不正确"),
        ({"attributes[urgency]": "urgent"}, "格式不正确"),
        ({"attribute[urgency][]": ["urgent", "critical"]}, "属性「urgency」只能取一个值"),
        ({"attribute[urgency]": "urgent", "attribute[urgency][]": "critical"}, "属性「urgency」重复提交"),
    ],
)
def test_bad_posts_are_400_with_the_reason_and_leave_no_ticket(client, fields, expected):
    response = post_request(client, **fields)
    assert response.status_code == 400, response.content.decode()
    body = response.json()
    validate(body, ERRORS_SCHEMA)
    assert all(error["code"] == 400 for error in body)
    assert any(expected in error["description"] for error in body), body
    assert Ticket.objects.count() == 0 and Open311Request.objects.count() == 0


def test_every_problem_is_listed_and_xml_errors_are_a_list(client):
    response = post_request(client, "xml", service_code=None, lat=None, long=None, **{"attribute[bad": "x"})
    errors = fms_xml(response, status=400)["errors"]["error"]
    assert len(errors) == 3 and {e["code"] for e in errors} == {"400"}
    assert Ticket.objects.count() == 0


def test_empty_attribute_values_count_as_missing(client):
    assert post_request(client, **{"attribute[urgency]": ""}).status_code == 200
    assert Ticket.objects.get().urgency == "normal"


def test_posts_are_rate_limited_per_key(client, settings):
    settings.PUBLIC_RATE_LIMITS = {"open311.post.key": (2, 60)}
    codes = [post_request(client, description=f"第 {n} 处路灯").status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert Ticket.objects.count() == 2
    validate(post_request(client, description="再来").json(), ERRORS_SCHEMA)


# --- GET requests ---------------------------------------------------------------------------
@pytest.fixture
def three_requests(client, cast, departments, walk):
    """An open one, one closed after a satisfied callback, one in another service; plus a phone ticket."""
    numbers = [post_request(client, description=f"路灯 {n}").json()[0]["service_request_id"] for n in range(2)]
    numbers.append(post_request(client, service_code="pub-020101", description="学校门口拥堵").json()[0]["service_request_id"])
    closed = walk(Ticket.objects.get(number=numbers[1]), "reply_approved")
    actions.callback_ticket(closed, reached=True, solved=True, satisfaction="satisfied", by=cast["agent"])
    return numbers


def test_get_one_request(client, three_requests, departments):
    open_number, closed_number, _school = three_requests
    one = get_json(client, f"requests/{closed_number}.json", "requests.json", jurisdiction_id="shifan.gov.cn")
    assert len(one) == 1
    request = one[0]
    ticket = Ticket.objects.get(number=closed_number)
    assert request["status"] == "closed" and ticket.state == State.CLOSED
    assert request["status_notes"] == "路灯已于今日修复。"
    assert request["agency_responsible"] == "市城市管理局"
    assert request["service_code"] == "pub-010101" and request["service_name"] == "路灯"
    assert request["lat"] == 39.915 and request["long"] == 116.404
    assert dt.datetime.fromisoformat(request["expected_datetime"]) == ticket.handle_due.replace(microsecond=0)
    assert dt.datetime.fromisoformat(request["updated_datetime"]) == ticket.closed_at.replace(microsecond=0)
    still_open = get_json(client, f"requests/{open_number}.json", "requests.json")[0]
    assert still_open["status"] == "open" and still_open["status_notes"] is None and still_open["agency_responsible"] is None


def test_get_one_request_xml_the_fixmystreet_way(client, three_requests):
    xml = fms_xml(client.get(f"{BASE}/requests/{three_requests[1]}.xml", {"jurisdiction_id": "shifan.gov.cn"}))
    request = xml["service_requests"]["request"][0]
    assert request["status"] == "closed" and request["agency_responsible"] == "市城市管理局"
    assert request["zipcode"] is None


def test_unknown_or_unpublished_request_is_404(client, new_ticket):
    get_json(client, "requests/20990101-000001.json", ERRORS_SCHEMA, expect=404)
    phone_ticket = new_ticket()  # came by phone: never on the open API
    get_json(client, f"requests/{phone_ticket.number}.json", ERRORS_SCHEMA, expect=404)


def test_list_defaults_to_the_last_90_days(client, three_requests):
    Ticket.objects.filter(number=three_requests[2]).update(registered_at=timezone.now() - dt.timedelta(days=91))
    listed = get_json(client, "requests.json", "requests.json")
    assert sorted(r["service_request_id"] for r in listed) == sorted(three_requests[:2])


def test_list_filters(client, three_requests):
    open_number, closed_number, school = three_requests
    ids = lambda body: sorted(r["service_request_id"] for r in body)  # noqa: E731
    assert ids(get_json(client, "requests.json", "requests.json", status="open")) == sorted([open_number, school])
    assert ids(get_json(client, "requests.json", "requests.json", status="closed")) == [closed_number]
    assert ids(get_json(client, "requests.json", "requests.json", status="open,closed")) == sorted(three_requests)
    assert ids(get_json(client, "requests.json", "requests.json", service_code="pub-020101")) == [school]
    assert ids(get_json(client, "requests.json", "requests.json", service_code="pub-020101,pub-010101", status="closed")) == [closed_number]
    # ids override every other filter
    assert ids(get_json(client, "requests.json", "requests.json", service_request_id=f"{school}, {closed_number}", status="open", service_code="nope")) == sorted(
        [school, closed_number]
    )
    now = timezone.now()
    window = {"start_date": (now - dt.timedelta(days=1)).isoformat(), "end_date": (now + dt.timedelta(minutes=1)).isoformat()}
    assert ids(get_json(client, "requests.json", "requests.json", **window)) == sorted(three_requests)
    past = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00+08:00"}
    assert get_json(client, "requests.json", "requests.json", **past) == []
    assert get_json(client, "requests.json", "requests.json", start_date="2020-01-01") == []


def test_list_in_xml_the_fixmystreet_way(client, three_requests):
    xml = fms_xml(client.get(f"{BASE}/requests.xml", {"jurisdiction_id": "shifan.gov.cn", "status": "closed"}))
    requests = xml["service_requests"]["request"]
    assert [r["service_request_id"] for r in requests] == [three_requests[1]]
    empty = fms_xml(client.get(f"{BASE}/requests.xml", {"service_request_id": "20990101-000001"}))
    assert empty["service_requests"] is None


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-45"}, "end_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90"),
        ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"service_request_id": ",".join(str(n) for n in range(201))}, "200"),
    ],
)
def test_bad_list_filters_are_400(client, params, expected):
    body = get_json(client, "requests.json", ERRORS_SCHEMA, expect=400, **params)
    assert expected in body[0]["description"]


def test_confidential_and_other_channel_tickets_are_not_listed(client, three_requests, new_ticket):
    new_ticket()
    Ticket.objects.filter(number=three_requests[0]).update(confidential=True)
    listed = [r["service_request_id"] for r in get_json(client, "requests.json", "requests.json")]
    assert sorted(listed) == sorted(three_requests[1:])


def test_the_list_is_capped_at_1000(client, categories, monkeypatch):
    from services.public.open311 import requests as open311_requests

    monkeypatch.setattr(open311_requests, "MAX_RESULTS", 2)
    for n in range(3):
        post_request(client, description=f"第 {n} 处")
    assert len(get_json(client, "requests.json", "requests.json")) == 2


# --- the PyPI georeport client against a live server --------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_georeport_client_reads_the_api(live_server, categories, open311_key, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "*")
    client = Client()
    number = post_request(client, **{"attribute[urgency]": "critical"}).json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        georeport = GeoReport(f"{live_server.url}/open311/v2/", jurisdiction="shifan.gov.cn", output_format=fmt)
        services = georeport.get_service_list()
        codes = [s["service_code"] for s in services]
        assert codes == ["pub-010101", "pub-010102", "pub-020101"]
        definition = georeport.get_service_definition("pub-010101")
        assert definition["service_code"] == "pub-010101"
        one = georeport.get_service_request(number)
        assert one["service_request_id"] == number and one["status"] == "open"
        listed = georeport.get_service_requests(status="open")
        listed = listed if isinstance(listed, list) else [listed]
        assert [r["service_request_id"] for r in listed] == [number]
    validate(GeoReport(f"{live_server.url}/open311/v2").get_service_list(), "services.json")


# --- admin and demo ----------------------------------------------------------------------------
def test_demo_key_is_idempotent(db):
    first = demo.load()
    Open311ApiKey.objects.update(active=False)
    second = demo.load()
    assert first.pk == second.pk and second.active
    assert Open311ApiKey.objects.count() == 1
    assert Open311ApiKey.objects.find_active(demo.DEMO_OPEN311_KEY) == second


def test_admin_creates_a_key_shows_it_once_and_stores_only_its_hash(db, django_user_model):
    assert admin_site.is_registered(Open311ApiKey)
    admin = django_user_model.objects.create_superuser("pub-admin", "admin@example.org", "admin-password-123")
    client = Client()
    client.force_login(admin)
    response = client.post("/admin/public_desk/open311apikey/add/", {"integrator": "示例平台", "active": "on"}, follow=True)
    assert response.status_code == 200
    key = Open311ApiKey.objects.get(integrator="示例平台")
    messages = [str(m) for m in response.context["messages"]]
    raw = next(m.split("：", 1)[1] for m in messages if "只显示这一次" in m)
    assert key.key_hash == hash_api_key(raw) and raw not in (key.key_hash, key.key_prefix)
    assert Open311ApiKey.objects.find_active(raw) == key
