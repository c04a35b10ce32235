"""The knowledge tests' cast and data: agent 小王, dispatcher 老李, a supervisor, staff of two departments.

``search_backend`` runs a test once per backend: Elasticsearch (the server at
``ELASTICSEARCH_URL``, indices under ``SEARCH_INDEX_PREFIX``, wiped before and
after) and the embedded SQLite backend (a fresh file per test).
"""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from knowledge import actions, search
from knowledge.actions import ArticleContent
from routing import actions as ticket_actions
from routing import outbox
from routing.intake import IntakeRequest, register_ticket
from routing.models import Category, Department, User
from routing.roles import Role
from routing.states import Satisfaction, TicketType

PASSWORD = "demo-12345-pass"
BACKENDS = ["elasticsearch", "embedded"]
# The server the run was configured with (tests/conftest.py loaded the settings from the environment).
CONFIGURED_ELASTICSEARCH_URL = django_settings.ELASTICSEARCH_URL


@pytest.fixture(autouse=True)
def _knowledge_test_settings(settings, tmp_path):
    """Fast password hashing, and a private embedded index unless a test picks a backend."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SEARCH_BACKEND = "embedded"
    settings.EMBEDDED_SEARCH_PATH = tmp_path / "search.sqlite3"


def _use_backend(request, settings, tmp_path, name: str) -> None:
    if name == "elasticsearch":
        if not CONFIGURED_ELASTICSEARCH_URL:
            # Like every test of a real service: fail, never skip (`make test` always sets it).
            pytest.fail(
                "this test needs Elasticsearch, but ELASTICSEARCH_URL is unset: run `make test`, or "
                'bash deploy/services.sh start && eval "$(bash deploy/services.sh env)"',
                pytrace=False,
            )
        request.getfixturevalue("elasticsearch_url")  # fails (never skips) when the server does not answer
        settings.SEARCH_BACKEND = "elasticsearch"
        settings.ELASTICSEARCH_URL = CONFIGURED_ELASTICSEARCH_URL
    else:
        settings.SEARCH_BACKEND = "embedded"
        settings.EMBEDDED_SEARCH_PATH = tmp_path / "search.sqlite3"


@pytest.fixture(params=BACKENDS)
def search_backend(request, settings, tmp_path):
    """Each test using this runs against both backends, starting from empty indices."""
    _use_backend(request, settings, tmp_path, request.param)
    search.clear()
    yield request.param


@pytest.fixture
def elasticsearch_backend(request, settings, tmp_path):
    _use_backend(request, settings, tmp_path, "elasticsearch")
    search.clear()
    yield "elasticsearch"


@pytest.fixture
def categories(db):
    social = Category.objects.create(code="k01", name="劳动和社会保障")
    insurance = Category.objects.create(code="k0101", name="社会保险", parent=social)
    medical = Category.objects.create(code="k010101", name="医疗保险", parent=insurance)
    pension = Category.objects.create(code="k010102", name="养老保险", parent=insurance)
    city = Category.objects.create(code="k02", name="城乡建设")
    municipal = Category.objects.create(code="k0201", name="城市建设和市政管理", parent=city)
    lamps = Category.objects.create(code="k020101", name="路灯", parent=municipal)
    housing = Category.objects.create(code="k03", name="住房保障")
    fund = Category.objects.create(code="k0301", name="住房公积金", parent=housing)
    return {
        "social": social, "insurance": insurance, "medical": medical, "pension": pension,
        "city": city, "municipal": municipal, "lamps": lamps, "housing": housing, "fund": fund,
    }  # fmt: skip


@pytest.fixture
def departments(db):
    return {
        "yibao": Department.objects.create(code="yibao", name="市医疗保障局"),
        "chengguan": Department.objects.create(code="chengguan", name="市城市管理局"),
        "gongjijin": Department.objects.create(code="gongjijin", name="市住房公积金管理中心"),
    }


@pytest.fixture
def cast(db, departments):
    def user(username, role, department=None, first_name=""):
        return User.objects.create_user(username=username, password=PASSWORD, role=role, department=department, first_name=first_name)

    return {
        "agent": user("xiaowang", Role.AGENT, first_name="小王"),
        "dispatcher": user("laoli", Role.DISPATCHER, first_name="老李"),
        "supervisor": user("boss", Role.SUPERVISOR),
        "yibao": user("yibao-staff", Role.DEPARTMENT, departments["yibao"]),
        "chengguan": user("chengguan-staff", Role.DEPARTMENT, departments["chengguan"]),
        "gongjijin": user("gongjijin-staff", Role.DEPARTMENT, departments["gongjijin"]),
        "nobody": user("no-role", ""),
    }


@pytest.fixture
def write_article(cast, categories):
    """A draft written by a department's staff member."""

    def write(author: str = "yibao", *, title="城乡居民医疗保险报销指南", body="门诊费用按规定比例报销。", category="medical", **fields):
        content = ArticleContent(title=title, body=body, category=categories[category], **fields)
        return actions.create_article(content=content, by=cast[author])

    return write


@pytest.fixture
def publish(write_article, cast):
    """An article written, submitted and approved through the real actions, then indexed via the outbox."""

    def publish_(author: str = "yibao", *, index: bool = True, **fields):
        article = write_article(author, **fields)
        article = actions.submit_article(article, by=cast[author])
        article = actions.approve_article(article, by=cast["dispatcher"])
        if index:
            _deliver()
        return article

    return publish_


def _deliver() -> outbox.RunStats:
    stats = outbox.drain()
    search.refresh()
    return stats


@pytest.fixture
def deliver():
    """Deliver the outbox (as the worker would after commit) and make the index writes visible."""
    return _deliver


@pytest.fixture
def new_ticket(cast, categories):
    counter = {"n": 0}

    def make(**overrides):
        counter["n"] += 1
        fields = dict(
            channel="phone",
            type=TicketType.INQUIRY,
            description="东华街道路灯不亮已经一周了，晚上走路很危险。",
            address="示范市东城区东华街道 1 号",
            category=categories["lamps"],
            citizen_name="张女士",
            citizen_phone=f"1380013{counter['n']:04d}",
        )
        fields.update(overrides)
        return register_ticket(IntakeRequest(**fields), by=cast["agent"]).ticket

    return make


@pytest.fixture
def resolved_ticket(new_ticket, cast, departments):
    """A ticket handled by a department and closed after a satisfied callback (its reply is the answer)."""

    def make(*, department: str = "chengguan", reply: str = "已安排维修，路灯已恢复照明。", assisting: tuple[str, ...] = (), **overrides):
        ticket = new_ticket(**overrides)
        ticket = ticket_actions.dispatch_ticket(
            ticket, department=departments[department], assisting=[departments[d] for d in assisting], by=cast["dispatcher"]
        )
        staff = cast[department]
        ticket = ticket_actions.accept_ticket(ticket, by=staff)
        ticket = ticket_actions.reply_ticket(ticket, founded=True, solved=True, text=reply, basis="", by=staff)
        ticket = ticket_actions.approve_reply(ticket, by=cast["dispatcher"])
        return ticket_actions.callback_ticket(ticket, reached=True, solved=True, satisfaction=Satisfaction.SATISFIED, by=cast["agent"])

    return make


@pytest.fixture
def api(cast):
    """An API client signed in (session) as one of the cast."""

    def client_for(name: str) -> APIClient:
        client = APIClient()
        client.force_login(cast[name])
        return client

    return client_for


@pytest.fixture
def today() -> date:
    from django.utils import timezone

    return timezone.localdate()
