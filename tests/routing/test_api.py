"""The REST API of API.md: the whole loop as the demo users, refusals as clear 4xx, queues, KPIs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from routing import demo
from routing.models import Department, Ticket, TicketEvent


def login(username: str) -> APIClient:
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": username, "password": demo.DEMO_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


@pytest.fixture
def demo_city(db):
    demo.load_categories()
    areas = demo.load_areas()
    departments = demo.load_departments(areas)
    demo.load_users(departments)
    demo.load_rules(departments)
    return departments


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


@pytest.mark.django_db
def test_the_whole_loop_through_the_api_as_the_demo_users(demo_city):
    agent, dispatcher, chengguan, supervisor = login("agent"), login("dispatcher"), login("chengguan"), login("supervisor")
    street = demo.Area.objects.get(code="dongcheng-1")
    category = Ticket._meta.get_field("category").related_model.objects.get(name="城市建设和市政管理", parent__name="城乡建设")

    # 受理: the agent registers a call
    created = agent.post(
        "/api/v1/tickets/",
        {
            "channel": "phone", "type": "complaint", "category": category.pk, "urgency": "normal",
            "description": "东华街道人民路的路灯坏了一个星期，晚上很黑。", "address": "示范市东城区东华街道人民路 8 号",
            "lat": "39.904200", "lng": "116.407400", "area": street.pk,
            "citizen": {"name": "张女士", "phone": "13800138000", "anonymous": False}, "confidential": False,
        },
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["state"] == "registered"
    # the catalogue proposes 城管 (keyword 路灯) with its rule
    assert created.json()["proposed_department"]["code"] == "chengguan"
    assert created.json()["proposed_rule"]["name"]

    # 派单
    r = dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "chengguan", "assisting": ["zhujian"]}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "dispatched" and r.json()["accept_due"] and r.json()["handle_due"]
    assert [d["code"] for d in r.json()["assisting"]] == ["zhujian"]

    # the department sees it in its queue, masked, with what it may do
    queue = chengguan.get("/api/v1/queues/mine/").json()
    assert number in [t["number"] for t in queue["results"]]
    detail = chengguan.get(f"/api/v1/tickets/{number}/").json()
    assert detail["citizen"]["phone"] == "138****8000" and detail["citizen"]["masked"]
    assert set(detail["available_transitions"]) == {"accept", "request_return", "sub_dispatch"}

    # 签收, 答复
    assert chengguan.post(f"/api/v1/tickets/{number}/accept/").json()["state"] == "accepted"
    r = chengguan.post(f"/api/v1/tickets/{number}/reply/", {"founded": True, "solved": True, "text": "已更换灯泡，路灯恢复。", "basis": "城市照明管理规定"}, format="json")
    assert r.json()["state"] == "replied"

    # 审核, 回访 (satisfied → closed)
    assert dispatcher.post(f"/api/v1/tickets/{number}/approve_reply/").json()["state"] == "reply_approved"
    r = agent.post(f"/api/v1/tickets/{number}/callback/", {"reached": True, "solved": True, "satisfaction": "satisfied"}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "closed"

    # the timeline holds every step, in order
    events = supervisor.get(f"/api/v1/tickets/{number}/events/").json()
    assert [e["kind"] for e in events] == [
        "ticket.registered", "ticket.dispatched", "ticket.accepted", "ticket.replied", "ticket.reply_approved", "ticket.callback", "ticket.closed",
    ]  # fmt: skip
    assert events[1]["actor"] == "dispatcher" and events[2]["department"]["code"] == "chengguan"

    # and the KPIs count it
    kpis = supervisor.get("/api/v1/kpis/?by=department").json()
    assert kpis["totals"]["satisfaction"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert kpis["totals"]["on_time_accept"]["value"] == 1.0
    groups = {g["label"]: g for g in kpis["groups"]}
    assert groups["市城市管理局"]["metrics"]["on_time_completion"]["value"] == 1.0


@pytest.mark.django_db
def test_unsatisfied_twice_puts_the_ticket_under_supervision(demo_city):
    agent, dispatcher, zhujian = login("agent"), login("dispatcher"), login("zhujian")
    number = agent.post("/api/v1/tickets/", {"channel": "web", "type": "help", "description": "小区电梯经常停运"}, format="json").json()["number"]
    dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "zhujian"}, format="json")
    zhujian.post(f"/api/v1/tickets/{number}/accept/")
    for round_ in (1, 2):
        zhujian.post(f"/api/v1/tickets/{number}/reply/", {"founded": True, "solved": False, "text": f"第{round_}次答复"}, format="json")
        dispatcher.post(f"/api/v1/tickets/{number}/approve_reply/")
        r = agent.post(f"/api/v1/tickets/{number}/callback/", {"reached": True, "solved": False, "satisfaction": "unsatisfied"}, format="json")
        assert r.json()["state"] == "rated"
        r = agent.post(f"/api/v1/tickets/{number}/reopen/", {"reason": "市民不满意"}, format="json")
        assert r.json()["state"] == "accepted"
    ticket = r.json()
    assert ticket["unsatisfied_count"] == 2 and ticket["supervised"] is True


@pytest.mark.django_db
def test_merge_a_duplicate(demo_city):
    agent, dispatcher = login("agent"), login("dispatcher")
    first = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "人民路夜间施工噪音"}, format="json").json()["number"]
    second = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "人民路工地半夜施工很吵"}, format="json").json()["number"]
    r = dispatcher.post(f"/api/v1/tickets/{second}/merge/", {"into": first}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "merged" and r.json()["merged_into"] == first
    r = dispatcher.post(f"/api/v1/tickets/{first}/merge/", {"into": first}, format="json")
    assert r.status_code == 400 and error_of(r)["details"]["into"]


@pytest.mark.django_db
def test_refusals_are_clear_4xx_in_one_shape(demo_city):
    agent, dispatcher, chengguan = login("agent"), login("dispatcher"), login("chengguan")
    number = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "占道经营"}, format="json").json()["number"]

    # a role that may not act: 403
    r = agent.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "chengguan"}, format="json")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden_role"
    # not from this state: 409
    r = dispatcher.post(f"/api/v1/tickets/{number}/approve_reply/")
    assert r.status_code == 409 and error_of(r)["code"] == "invalid_state"
    # bad input: 400 with field details
    r = dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "no-such-dept"}, format="json")
    assert r.status_code == 400 and "department" in error_of(r)["details"]
    r = agent.post("/api/v1/tickets/", {"channel": "fax", "type": "complaint", "description": ""}, format="json")
    assert r.status_code == 400 and {"channel", "description"} <= set(error_of(r)["details"])
    r = agent.post("/api/v1/tickets/", {"channel": "web", "type": "help", "description": "x", "lat": "abc"}, format="json")
    assert r.status_code == 400
    r = agent.post("/api/v1/tickets/", "not json", content_type="application/json")
    assert r.status_code == 400
    # unknown transition, unknown ticket: 404
    assert error_of(dispatcher.post(f"/api/v1/tickets/{number}/teleport/"))["code"] == "unknown_transition"
    assert dispatcher.get("/api/v1/tickets/20990101-000001/").status_code == 404
    # department staff may not register
    r = chengguan.post("/api/v1/tickets/", {"channel": "web", "type": "help", "description": "x"}, format="json")
    assert r.status_code == 403
    # no token: 401
    assert APIClient().get("/api/v1/tickets/").status_code == 401
    # wrong password: 401 with the shape
    r = APIClient().post("/api/v1/auth/token/", {"username": "agent", "password": "wrong"}, format="json")
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_credentials"
    assert Ticket.objects.count() == 1  # no half-written ticket from any refusal


@pytest.mark.django_db
def test_staff_of_another_department_see_nothing_on_any_ticket_endpoint(demo_city):
    agent, dispatcher, zhujian = login("agent"), login("dispatcher"), login("zhujian")
    number = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "路灯不亮", "citizen": {"phone": "13900001111"}}, format="json").json()["number"]
    dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "chengguan"}, format="json")
    events_before = TicketEvent.objects.count()
    for method, path, body in [
        ("get", f"/api/v1/tickets/{number}/", None),
        ("get", f"/api/v1/tickets/{number}/events/", None),
        ("post", f"/api/v1/tickets/{number}/reveal/", {"reason": "核实"}),
        *[("post", f"/api/v1/tickets/{number}/{name}/", {}) for name in ["accept", "request_return", "reply", "sub_dispatch", "withdraw"]],
    ]:
        r = getattr(zhujian, method)(path, body, format="json")
        assert r.status_code == 404, (path, r.status_code)
    listing = zhujian.get("/api/v1/tickets/").json()
    assert number not in [t["number"] for t in listing["results"]]
    assert TicketEvent.objects.count() == events_before


@pytest.mark.django_db
def test_a_reveal_is_logged_and_confidential_tickets_stay_hidden(demo_city):
    agent, dispatcher, chengguan = login("agent"), login("dispatcher"), login("chengguan")
    plain = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "complaint", "description": "占道经营", "citizen": {"name": "李四", "phone": "13911112222"}}, format="json").json()["number"]
    secret = agent.post(
        "/api/v1/tickets/", {"channel": "phone", "type": "report", "description": "举报违建", "citizen": {"name": "王五", "phone": "13933334444"}, "confidential": True}, format="json"
    ).json()["number"]
    for number in (plain, secret):
        dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "chengguan"}, format="json")
    r = chengguan.post(f"/api/v1/tickets/{plain}/reveal/", {"reason": "需要电话联系市民"}, format="json")
    assert r.json() == {"name": "李四", "phone": "13911112222"}
    assert TicketEvent.objects.filter(ticket__number=plain, kind="ticket.contact_revealed", data__reason="需要电话联系市民").count() == 1
    assert chengguan.post(f"/api/v1/tickets/{plain}/reveal/", {}, format="json").status_code == 400
    detail = chengguan.get(f"/api/v1/tickets/{secret}/").json()
    assert detail["citizen"]["name"] == "" and detail["citizen"]["phone"] == ""
    assert chengguan.post(f"/api/v1/tickets/{secret}/reveal/", {"reason": "联系"}, format="json").status_code == 403
    assert agent.get(f"/api/v1/tickets/{secret}/").json()["citizen"]["phone"] == "13933334444"


@pytest.mark.django_db
def test_a_queue_page_costs_the_same_queries_for_5_or_40_tickets(demo_city):
    agent, dispatcher, chengguan = login("agent"), login("dispatcher"), login("chengguan")

    def fill(n):
        for i in range(n):
            number = agent.post("/api/v1/tickets/", {"channel": "web", "type": "help", "description": f"占道经营 {i}"}, format="json").json()["number"]
            dispatcher.post(f"/api/v1/tickets/{number}/dispatch/", {"department": "chengguan", "assisting": ["zhujian", "jiaotong"]}, format="json")

    def queries_for_queue():
        with CaptureQueriesContext(connection) as ctx:
            assert chengguan.get("/api/v1/queues/mine/").status_code == 200
        return len(ctx.captured_queries)

    fill(5)
    small = queries_for_queue()
    fill(35)
    large = queries_for_queue()
    assert small == large, (small, large)
    assert large <= 8


@pytest.mark.django_db
def test_automatic_rule_dispatches_without_a_dispatcher(demo_city):
    agent = login("agent")
    r = agent.post("/api/v1/tickets/", {"channel": "phone", "type": "help", "description": "我家小区从早上开始停水了"}, format="json")
    body = r.json()
    assert body["state"] == "dispatched" and body["department"]["code"] == "shuiwu"
    events = TicketEvent.objects.filter(ticket__number=body["number"]).order_by("id")
    assert [(e.kind, e.actor_role) for e in events] == [("ticket.registered", "agent"), ("ticket.dispatched", "system")]
    assert events[1].data["rule"]


@pytest.mark.django_db
def test_reference_data_and_schema(demo_city):
    agent = login("agent")
    assert len(agent.get("/api/v1/departments/").json()) == Department.objects.count()
    assert agent.get("/api/v1/categories/").json()[0]["level"] == 1
    assert {a["kind"] for a in agent.get("/api/v1/areas/").json()} == {"city", "district", "street", "grid"}
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    # every transition is its own operation, with its request body documented
    for name in ("dispatch", "accept", "reply", "callback", "merge", "close"):
        operation = paths[f"/api/v1/tickets/{{number}}/{name}/"]["post"]
        if name in ("accept", "close"):  # no body at all
            assert "requestBody" not in operation, name
        else:
            assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"], name
        assert {"200", "400", "403", "404", "409"} <= set(operation["responses"]), name
    assert login("chengguan").get("/api/v1/kpis/").status_code == 403


@pytest.mark.django_db
def test_the_timeline_cannot_be_rewritten(ticket_in):
    ticket = ticket_in("dispatched")
    event = ticket.events.first()
    event.data = {"forged": True}
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        TicketEvent.objects.filter(ticket=ticket).update(kind="x")
    with pytest.raises(TypeError):
        TicketEvent.objects.filter(ticket=ticket).delete()


@pytest.mark.django_db
def test_demo_loader_is_idempotent():
    first = demo.load()
    second = demo.load()
    assert second["tickets_created"] == 0 and second["categories_created"] == 0 and second["history_tickets_created"] == 0
    assert second["tickets"] == first["tickets"] >= 30 + demo.HISTORY_TICKETS


@pytest.mark.django_db
def test_the_demo_month_is_a_history_the_system_itself_wrote():
    from django.db.models import Max, Min

    from routing import kpis
    from routing.models import KpiRolledDay

    demo.load()
    now = timezone.now()
    history = Ticket.objects.filter(channel_ref__startswith=demo.HISTORY_REF)
    assert history.count() == demo.HISTORY_TICKETS
    events = TicketEvent.objects.filter(ticket__in=history)
    span = events.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert now - dt.timedelta(days=demo.HISTORY_DAYS + 1) < span["first"] and span["last"] < now
    # every ticket's steps in the order they happened, and numbered by the day it came in
    for ticket in history.order_by("?")[:40]:
        times = list(ticket.events.order_by("id").values_list("created_at", flat=True))
        assert times == sorted(times), ticket.number
        assert ticket.number.startswith(timezone.localtime(ticket.registered_at).strftime("%Y%m%d"))
    # every KPI has something to show, every past day is rolled up, and the roll-ups agree with the timeline
    report = kpis.compute_each(groupings=["", *kpis.GROUPINGS])
    for name in ("first_contact", "on_time_accept", "on_time_completion", "return_rate", "satisfaction", "reopen_rate"):
        value = report[""]["totals"][name]
        assert value["numerator"] > 0 and value["denominator"] > value["numerator"], (name, value)
    first_day = timezone.localdate() - dt.timedelta(days=demo.HISTORY_DAYS)
    last_over = timezone.localdate(timezone.now() - kpis.SETTLE_MARGIN) - dt.timedelta(days=1)
    rolled = set(KpiRolledDay.objects.values_list("day", flat=True))
    assert {first_day + dt.timedelta(days=n) for n in range((last_over - first_day).days + 1)} <= rolled
    kpis.forget_roll_ups()
    assert kpis.compute_each(groupings=["", *kpis.GROUPINGS]) == report
    assert events.filter(kind="ticket.card_red").exists() and events.filter(kind="ticket.merged").exists()
