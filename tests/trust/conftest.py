"""The trust tests' cast and data: a fixed cast of staff, three departments, one ticket with known secrets.

Cast: agent 小王, dispatcher 老李, a supervisor, staff of the lead department
(市城市管理局), of an assisting department (市水务局) and of an unrelated one
(市住房和城乡建设局), and the anonymous visitor. The ``world`` ticket is
dispatched to the lead department with the assisting one, and carries
markers (the citizen's name and phone, a phrase in its description) that
must never show up in an answer to someone who may not see it.

Staff sign in with API tokens and sessions created directly (no password
hashing per test: Argon2 is deliberately slow); ``test_accounts`` covers the
passwords themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from routing import actions, outbox
from routing.intake import IntakeRequest, register_ticket
from routing.models import Area, Category, Department, Ticket, User
from routing.roles import Role
from routing.states import TicketType

ROLES = ("agent", "dispatcher", "supervisor", "dept_own", "dept_assist", "dept_other", "anonymous")
STAFF = ROLES[:-1]

CITIZEN_NAME = "欧阳隐私"
CITIZEN_PHONE = "13912345678"
MARKER = "TRUSTMARK路灯杆倾斜"


@pytest.fixture(autouse=True)
def _real_services(services):
    """Every trust test runs against the real PostgreSQL, Redis and Elasticsearch (the test fails otherwise)."""
    return services


@pytest.fixture(autouse=True)
def fresh_cache(redis_url):
    """Rate-limit and lockout counters live in the Redis cache (our own db number); each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def places(db):
    city = Area.objects.create(code="tr-city", name="示范市", kind=Area.Kind.CITY)
    street = Area.objects.create(code="tr-street", name="东华街道", kind=Area.Kind.STREET, parent=city)
    top = Category.objects.create(code="tr01", name="城乡建设")
    mid = Category.objects.create(code="tr0101", name="城市建设和市政管理", parent=top)
    lamp = Category.objects.create(code="tr010101", name="路灯", parent=mid)
    return {"city": city, "street": street, "top": top, "mid": mid, "lamp": lamp}


@pytest.fixture
def departments(db):
    return {
        "own": Department.objects.create(code="tr-chengguan", name="市城市管理局"),
        "assist": Department.objects.create(code="tr-shuiwu", name="市水务局"),
        "other": Department.objects.create(code="tr-zhujian", name="市住房和城乡建设局"),
    }


@pytest.fixture
def cast(db, departments) -> dict[str, User]:
    def user(username, role, department=None, **extra):
        # No usable password: these tests sign in by token or session (see the module docstring).
        return User.objects.create(username=username, role=role, department=department, **extra)

    return {
        "agent": user("tr-xiaowang", Role.AGENT, first_name="小王"),
        "dispatcher": user("tr-laoli", Role.DISPATCHER, first_name="老李"),
        "supervisor": user("tr-boss", Role.SUPERVISOR),
        "dept_own": user("tr-chengguan", Role.DEPARTMENT, departments["own"]),
        "dept_assist": user("tr-shuiwu", Role.DEPARTMENT, departments["assist"]),
        "dept_other": user("tr-zhujian", Role.DEPARTMENT, departments["other"]),
    }


def staff_client(user: User | None) -> APIClient:
    """A client signed in both ways: an API token (DRF views) and a session (pages, plain JSON views)."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.force_login(user)
    return client


@pytest.fixture
def client_for(cast):
    def make(role: str) -> APIClient:
        return staff_client(None if role == "anonymous" else cast[role])

    return make


def intake(**overrides) -> IntakeRequest:
    fields = dict(
        channel="phone",
        type=TicketType.COMPLAINT,
        description=f"{MARKER}：东华街道 3 号门口的路灯杆倾斜，随时可能倒下。",
        address="示范市东城区东华街道 3 号",
        citizen_name=CITIZEN_NAME,
        citizen_phone=CITIZEN_PHONE,
    )
    fields.update(overrides)
    return IntakeRequest(**fields)


@pytest.fixture
def new_ticket(cast, places):
    def make(**overrides) -> Ticket:
        overrides.setdefault("category", places["lamp"])
        overrides.setdefault("area", places["street"])
        return register_ticket(intake(**overrides), by=cast["agent"]).ticket

    return make


@dataclass
class World:
    ticket: Ticket
    cast: dict
    departments: dict
    secrets: list[str] = field(default_factory=list)

    @property
    def number(self) -> str:
        return self.ticket.number


@pytest.fixture
def world(cast, departments, new_ticket) -> World:
    """One ticket dispatched to the lead department with an assisting one; its secrets listed. The transfer
    list (移交目录) is there as migration 0013 leaves it, even after a test that flushed the database."""
    from routing import linkage

    linkage.ensure_default_lines()
    ticket = new_ticket()
    ticket = actions.dispatch_ticket(ticket, department=departments["own"], assisting=[departments["assist"]], by=cast["dispatcher"])
    return World(ticket=ticket, cast=cast, departments=departments, secrets=[ticket.number, MARKER, CITIZEN_NAME, CITIZEN_PHONE])


@pytest.fixture
def drain():
    """Deliver every due outbox message now, as the worker would."""
    return outbox.drain
