"""The public desk's cast: a three-level category tree, two departments, hotline staff,
citizens' tickets walked through the real actions, an Open311 key, and a clean cache
(rate-limit counters) for every test.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from routing import actions
from routing.intake import IntakeRequest, register_ticket
from routing.models import Category, Department, User
from routing.roles import Role
from routing.states import TicketType
from services.public import demo

CITIZEN_PHONE = "13800138000"
OTHER_PHONE = "13900139000"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Argon2 is right for production and slow for a cast created in every test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Uploaded attachments go to the test's own folder, not var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_rate_limits(redis_url):
    """Rate-limit counters live in the Redis cache; each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def categories(db):
    top = Category.objects.create(code="pub-01", name="城乡建设")
    mid = Category.objects.create(code="pub-0101", name="城市建设和市政管理", parent=top)
    lamp = Category.objects.create(code="pub-010101", name="路灯", parent=mid)
    road = Category.objects.create(code="pub-010102", name="道路破损", parent=mid)
    other_top = Category.objects.create(code="pub-02", name="教育文体")
    other_mid = Category.objects.create(code="pub-0201", name="教育", parent=other_top)
    school = Category.objects.create(code="pub-020101", name="学校管理", parent=other_mid)
    return {"top": top, "mid": mid, "lamp": lamp, "road": road, "school": school}


@pytest.fixture
def departments(db):
    return {
        "city_mgmt": Department.objects.create(code="pub-chengguan", name="市城市管理局"),
        "housing": Department.objects.create(code="pub-zhujian", name="市住房和城乡建设局"),
    }


@pytest.fixture
def cast(db, departments):
    def user(username, role, department=None, first_name=""):
        return User.objects.create_user(username=username, password="demo-12345-pass", role=role, department=department, first_name=first_name)

    return {
        "agent": user("pub-xiaowang", Role.AGENT, first_name="小王"),
        "agent2": user("pub-xiaozhang", Role.AGENT, first_name="小张"),
        "dispatcher": user("pub-laoli", Role.DISPATCHER, first_name="老李"),
        "supervisor": user("pub-boss", Role.SUPERVISOR),
        "dept": user("pub-chengguan", Role.DEPARTMENT, departments["city_mgmt"], first_name="王科长"),
    }


@pytest.fixture
def new_ticket(cast, categories):
    """A ticket registered by the agent for the citizen with ``CITIZEN_PHONE`` (unless overridden)."""

    def make(**overrides):
        fields = dict(
            channel="phone",
            type=TicketType.COMPLAINT,
            description="东华街道路灯不亮已经一周了，晚上走路很危险。",
            address="示范市东城区东华街道 1 号",
            category=categories["lamp"],
            citizen_name="张女士",
            citizen_phone=CITIZEN_PHONE,
        )
        fields.update(overrides)
        return register_ticket(IntakeRequest(**fields), by=cast["agent"]).ticket

    return make


@pytest.fixture
def walk(cast, departments):
    """Walk a ticket through the real actions up to a named situation."""

    def to(ticket, situation: str):
        if situation == "registered":
            return ticket
        ticket = actions.dispatch_ticket(ticket, department=departments["city_mgmt"], by=cast["dispatcher"])
        if situation == "dispatched":
            return ticket
        ticket = actions.accept_ticket(ticket, by=cast["dept"])
        actions.add_note(ticket, text="内部备注：王科长已电话联系施工方", by=cast["dept"])
        if situation == "accepted":
            return ticket
        ticket = actions.reply_ticket(ticket, founded=True, solved=True, text="路灯已于今日修复。", basis="城市照明管理办法", by=cast["dept"])
        if situation == "replied":
            return ticket
        ticket = actions.approve_reply(ticket, by=cast["dispatcher"])
        if situation == "reply_approved":
            return ticket
        raise ValueError(situation)

    return to


@pytest.fixture
def open311_key(db):
    """The demo integrator key, created the way the demo loader does."""
    demo.load()
    return demo.DEMO_OPEN311_KEY
