"""The fixed cast of the routing tests: agent 小王, dispatcher 老李, staff of two departments, a supervisor, a citizen."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from routing import actions, linkage
from routing.intake import IntakeRequest, register_ticket
from routing.models import Area, Category, Department, EmergencyLine, User
from routing.roles import Role, citizen_actor
from routing.states import Satisfaction, TicketType


@pytest.fixture
def city(db):
    city = Area.objects.create(code="t-city", name="示范市", kind=Area.Kind.CITY)
    district = Area.objects.create(code="t-east", name="东城区", kind=Area.Kind.DISTRICT, parent=city)
    street = Area.objects.create(code="t-east-1", name="东华街道", kind=Area.Kind.STREET, parent=district)
    return {"city": city, "district": district, "street": street}


@pytest.fixture
def categories(db):
    top = Category.objects.create(code="t01", name="城乡建设")
    mid = Category.objects.create(code="t0101", name="城市建设和市政管理", parent=top)
    leaf = Category.objects.create(code="t010101", name="路灯", parent=mid)
    other = Category.objects.create(code="t02", name="教育文体")
    return {"top": top, "mid": mid, "leaf": leaf, "other": other}


@pytest.fixture
def departments(db, city):
    housing = Department.objects.create(code="zhujian", name="市住房和城乡建设局", area=city["city"])
    city_mgmt = Department.objects.create(code="chengguan", name="市城市管理局", area=city["city"])
    unit = Department.objects.create(code="chengguan-east", name="东城区城市管理执法大队", parent=city_mgmt, area=city["district"])
    return {"housing": housing, "city_mgmt": city_mgmt, "unit": unit}


@pytest.fixture
def cast(db, departments):
    def user(username, role, department=None, first_name=""):
        return User.objects.create_user(username=username, password="demo-12345-pass", role=role, department=department, first_name=first_name)

    return {
        "agent": user("xiaowang", Role.AGENT, first_name="小王"),
        "dispatcher": user("laoli", Role.DISPATCHER, first_name="老李"),
        "supervisor": user("boss", Role.SUPERVISOR),
        "dept_own": user("chengguan", Role.DEPARTMENT, departments["city_mgmt"]),
        "dept_other": user("zhujian", Role.DEPARTMENT, departments["housing"]),
        "unit_staff": user("east-unit", Role.DEPARTMENT, departments["unit"]),
    }


@pytest.fixture
def new_ticket(cast, categories, city):
    """Register a fresh ticket the way an agent would."""
    counter = {"n": 0}

    def make(**overrides):
        counter["n"] += 1
        fields = dict(
            channel="phone",
            type=TicketType.COMPLAINT,
            description="东华街道路灯不亮已经一周了，晚上走路很危险。",
            address="示范市东城区东华街道 1 号",
            category=categories["leaf"],
            area=city["street"],
            citizen_name="张女士",
            citizen_phone=f"1380013{counter['n']:04d}",
        )
        fields.update(overrides)
        return register_ticket(IntakeRequest(**fields), by=cast["agent"]).ticket

    return make


@pytest.fixture
def ticket_in(new_ticket, cast, departments):
    """A ticket walked through the real actions to a named situation."""

    def walk(situation: str):
        t = new_ticket()
        if situation == "registered":
            return t
        if situation == "declined":
            return actions.decline_ticket(t, reason="不属于受理范围", by=cast["agent"])
        if situation == "transferred":
            linkage.ensure_default_lines()
            return actions.transfer_ticket(t, line=EmergencyLine.objects.get(code="110"), reason="属治安警情，移交公安110", by=cast["agent"])
        if situation == "closed_at_first_contact":
            return actions.resolve_ticket(t, answer="已按知识库解答", by=cast["agent"])
        if situation == "merged":
            return actions.merge_ticket(t, into=new_ticket(), by=cast["dispatcher"])
        t = actions.dispatch_ticket(t, department=departments["city_mgmt"], by=cast["dispatcher"])
        if situation == "dispatched":
            return t
        if situation == "withdrawn":
            return actions.withdraw_ticket(t, by=citizen_actor(t.citizen))
        if situation == "return_requested":
            return actions.request_return(t, reason="不属于本单位职责", by=cast["dept_own"])
        t = actions.accept_ticket(t, by=cast["dept_own"])
        if situation == "accepted":
            return t
        if situation == "accepted_extension":
            return actions.request_extension(t, days=3, reason="需协调多个部门", by=cast["dept_own"])
        t = actions.reply_ticket(t, founded=True, solved=True, text="已修复路灯", basis="城市照明管理办法", by=cast["dept_own"])
        if situation == "replied":
            return t
        t = actions.approve_reply(t, by=cast["dispatcher"])
        if situation == "reply_approved":
            return t
        if situation == "rated_unsatisfied":
            return actions.callback_ticket(t, reached=True, solved=False, satisfaction=Satisfaction.UNSATISFIED, by=cast["agent"])
        if situation == "rated_unreached":
            return actions.callback_ticket(t, reached=False, solved=None, satisfaction="", by=cast["agent"])
        if situation == "closed":
            return actions.callback_ticket(t, reached=True, solved=True, satisfaction=Satisfaction.SATISFIED, by=cast["agent"])
        raise ValueError(situation)

    return walk


@pytest.fixture
def api(cast):
    """An API client signed in as one of the cast, by token as integrators do."""

    def client_for(name: str) -> APIClient:
        client = APIClient()
        response = client.post("/api/v1/auth/token/", {"username": cast[name].username, "password": "demo-12345-pass"}, format="json")
        assert response.status_code == 200, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        return client

    return client_for
