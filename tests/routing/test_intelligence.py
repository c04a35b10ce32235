"""The intake classifier: training from the database, proposals, corrections, threshold dispatch, versions, failures."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from routing import actions, demo, intelligence
from routing.intake import IntakeRequest, register_ticket
from routing.intelligence import cues, store, training
from routing.intelligence import text as rep
from routing.intelligence.model import TrainingError
from routing.models import Area, Category, CategoryCorrection, ClassifierModel, Department, DispatchRule, IntelligencePolicy, Ticket, TicketEvent, User
from routing.roles import Role
from routing.states import State, TicketType

ROOT = Path(__file__).resolve().parents[2]
WAGES = "公司拖欠我三个月工资，老板一直不给，请帮忙讨薪"
POLICE = ["派出所办理户口迁移手续太慢", "小区附近有人聚众赌博，请公安机关查处", "身份证丢失补办要去哪个派出所",
          "夜里有人打架斗殴，报警后派出所迟迟不出警", "居住证办理需要什么材料，派出所说要房东证明",
          "电动车被盗，派出所立案后一直没有消息", "户籍迁入落户政策咨询，派出所窗口说法不一"]  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(store, "CHECK_SECONDS", 0.0)
    monkeypatch.setattr(training, "BOOTSTRAP_FILES", ("citizen_messages.jsonl",))  # 495 messages: a model in ~2 s
    intelligence.reset()
    yield
    intelligence.reset()


@pytest.fixture
def tree(db):
    demo.load_categories()
    areas = demo.load_areas()
    departments = demo.load_departments(areas)
    demo.load_rules(departments)
    return {"areas": areas, "departments": departments}


@pytest.fixture
def staff(tree):
    def user(name, role):
        return User.objects.create_user(username=name, password="x-12345-pass-y", role=role)

    return {"agent": user("agent-i", Role.AGENT), "dispatcher": user("dispatcher-i", Role.DISPATCHER), "dept": User.objects.create_user(
        username="dept-i", password="x-12345-pass-y", role=Role.DEPARTMENT, department=tree["departments"]["renshe"])}  # fmt: skip


def topic(name: str) -> Category:
    return Category.objects.get(name=name, parent=None)


def leaf_under(name: str) -> Category:
    return Category.objects.filter(path__startswith=topic(name).path, level=3).first()


def register(text: str, by, **fields) -> Ticket:
    return register_ticket(IntakeRequest(channel=fields.pop("channel", "web"), type=TicketType.HELP, description=text, **fields), by=by).ticket


# --- the parts ---------------------------------------------------------------------------------
def test_hashed_columns_of_explanations_match_the_vectorizer():
    from sklearn.utils import murmurhash3_32

    for token in ["w:欠薪", "u:路", "c:工资", "h:投诉", "lex:7"]:
        assert rep.column(token) == abs(murmurhash3_32(token, seed=0)) % rep.N_FEATURES


def test_cues_for_type_life_safety_and_place():
    assert cues.propose_type("我要投诉这家店乱收费") == TicketType.COMPLAINT
    assert cues.propose_type("请问社保卡怎么办理") == TicketType.INQUIRY
    assert cues.propose_type("特别感谢社区工作人员，送上锦旗表扬") == TicketType.PRAISE
    assert cues.propose_type("建议在路口增设红绿灯") == TicketType.SUGGESTION
    assert cues.propose_type("举报工厂夜间偷排污水") == TicketType.REPORT
    assert cues.propose_type("路面有个坑") == TicketType.HELP
    assert cues.life_safety_cues("楼道里闻到燃气泄漏的味道，有人被困在电梯") == ["闻到燃气", "燃气泄漏", "有人被困"]
    assert cues.life_safety_cues("路灯不亮") == []
    names = cues.gazetteer([(1, "示范市", 1), (2, "东城区", 2), (3, "东华街道", 3)])
    assert cues.find_area("东城区东华街道3号路灯坏了", names) == 3
    assert cues.find_area("东华那边的路灯坏了", names) == 3  # a street is named without 街道
    assert cues.find_area("东城区的路灯坏了", names) == 2
    assert cues.find_area("示范市的路灯坏了", names) is None


# --- training from the database ----------------------------------------------------------------
def confirm(text: str, category: Category, staff) -> Ticket:
    ticket = register(text, staff["agent"], category=category)
    department = Department.objects.get(code="gongan")
    return actions.dispatch_ticket(ticket, department=department, by=staff["dispatcher"])


def test_training_learns_a_topic_only_the_citys_confirmed_tickets_teach(staff):
    target = leaf_under("政法")
    for i in range(3):
        for text in POLICE:
            confirm(f"{text}（第{i}次反映）", target, staff)
    register("派出所的问题没人管，只是登记", staff["agent"], category=target)  # registered, not confirmed: not learned from
    assert Ticket.objects.filter(category_confirmed_at__isnull=False).count() == 21
    row = training.train()
    assert row.active and row.confirmed_tickets == 21
    assert row.metrics["macro_f1"] > 0.5 and row.metrics["held_out"] > 0
    assert {c["name"] for c in row.metrics["per_class"]} >= {"政法", "劳动和社会保障"}
    result = intelligence.classify("晚上有人在街上打架，派出所出警太慢")
    assert result.categories[0].path_names[0] == "政法"
    assert result.categories[0].category.pk == target.pk  # the leaf staff filed such tickets under
    assert len(result.categories) == 3
    assert result.model["version"] == row.version


def test_a_large_set_is_fitted_once_and_the_model_served_is_the_one_evaluated(staff, monkeypatch):
    from routing.intelligence import model as topic_model

    fits = []
    real_fit = topic_model._fit
    monkeypatch.setattr(topic_model, "_fit", lambda X, y: fits.append(X.shape[0]) or real_fit(X, y))
    leaves, names, topic_ids = training.tree()
    examples, _ = training.bootstrap_examples(topic_ids)
    small = topic_model.train(examples, leaves, names)
    assert small.metrics["refit"] and len(fits) == 2 and fits[1] == len(examples)

    fits.clear()
    monkeypatch.setattr(topic_model, "LARGE", 100)  # the bootstrap counts as a large set
    large = topic_model.train(examples, leaves, names)
    held = [e for e in examples if e.held_out_of(topic_model.LARGE_HOLDOUT_SHARE)]
    assert not large.metrics["refit"] and fits == [len(examples) - len(held)]
    assert large.metrics["held_out"] == len(held) and all(e.held_out for e in held)  # a subset of the one-in-five
    served = sum(large.predict(e.title, e.text).topics[0][0] == e.topic for e in held) / len(held)
    assert served == pytest.approx(large.metrics["accuracy"], abs=0.02)  # the figures are the served model's


def test_too_little_to_learn_from_keeps_the_previous_model(staff, monkeypatch):
    first = training.train(include_tickets=False)
    monkeypatch.setattr(training, "bootstrap_examples", lambda topic_ids: ([], 0))
    with pytest.raises(TrainingError):
        training.train(include_tickets=False)
    assert list(ClassifierModel.objects.filter(active=True).values_list("version", flat=True)) == [first.version]


def test_the_worker_retrains_when_enough_new_tickets_are_confirmed(staff):
    IntelligencePolicy.objects.create(pk=1, retrain_min_new=5, retrain_every_hours=0)
    first = training.retrain_if_due()  # no model yet: the bootstrap one
    assert first is not None
    assert training.retrain_if_due() is None  # nothing new confirmed
    for text in POLICE[:5]:
        confirm(text, leaf_under("政法"), staff)
    second = training.retrain_if_due()
    assert second not in {None, first}
    assert ClassifierModel.objects.get(active=True).version == second


def test_a_failing_retraining_is_logged_and_keeps_the_model(staff, monkeypatch, caplog):
    first = training.train(include_tickets=False)
    IntelligencePolicy.objects.create(pk=1, retrain_min_new=0, retrain_every_hours=0)

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(training.topic_model, "train", broken)
    with caplog.at_level(logging.ERROR, logger="routing.intelligence"):
        assert training.retrain_if_due() is None
    assert "previous model stays active" in caplog.text
    assert ClassifierModel.objects.get(active=True).version == first.version


# --- intake ------------------------------------------------------------------------------------
def test_an_uncategorised_ticket_gets_a_proposal_with_its_reasons(staff):
    row = training.train(include_tickets=False)
    ticket = register(WAGES + "，我在南湖区上班", staff["agent"], channel="sms")
    assert ticket.state == State.REGISTERED
    assert ticket.proposed_category.ancestor_ids()[0] == topic("劳动和社会保障").pk
    assert 0.5 < ticket.proposal_score <= 1
    assert ticket.proposal_version == row.version
    assert ticket.proposed_department.code == "renshe"  # the catalogue's rule for the proposed category
    assert ticket.proposal["area"]["name"] == "南湖区"
    assert any("工资" in t or "讨薪" in t for t in ticket.proposal["terms"])
    registered = ticket.events.get(kind="ticket.registered")
    assert registered.data["model"] == row.version and registered.data["proposed_category"] == ticket.proposed_category_id


def test_a_categorised_ticket_is_not_classified(staff):
    training.train(include_tickets=False)
    ticket = register(WAGES, staff["agent"], category=topic("城乡建设"))
    assert ticket.proposed_category is None and ticket.proposal == {}


def test_dispatching_to_another_category_is_a_correction(staff):
    training.train(include_tickets=False)
    ticket = register(WAGES, staff["agent"])
    chosen = leaf_under("城乡建设")
    ticket = actions.dispatch_ticket(ticket, department=Department.objects.get(code="zhujian"), category=chosen, by=staff["dispatcher"])
    assert ticket.category == chosen and ticket.category_confirmed_at is not None
    correction = CategoryCorrection.objects.get(ticket=ticket)
    assert correction.proposed_id == ticket.proposed_category_id and correction.chosen == chosen
    assert correction.topic_changed and correction.by == staff["dispatcher"] and correction.model_version == ticket.proposal_version

    agreed = register(WAGES + "。", staff["agent"])
    agreed = actions.dispatch_ticket(agreed, department=Department.objects.get(code="renshe"), category=agreed.proposed_category, by=staff["dispatcher"])
    assert not CategoryCorrection.objects.filter(ticket=agreed).exists()
    assert agreed.category_confirmed_at is not None


def test_the_threshold_dispatches_confident_tickets_and_is_off_by_default(staff):
    row = training.train(include_tickets=False)
    assert register(WAGES, staff["agent"]).state == State.REGISTERED  # no policy row: off

    IntelligencePolicy.objects.create(pk=1, auto_dispatch_threshold=0.5)
    ticket = register(WAGES + "！", staff["agent"])
    assert ticket.state == State.DISPATCHED and ticket.department.code == "renshe"
    assert ticket.category == ticket.proposed_category and ticket.category_confirmed_at is None  # not staff's word: not learned from
    event = ticket.events.get(kind="ticket.dispatched")
    assert event.actor_role == Role.SYSTEM and event.data["model"]["version"] == row.version
    assert event.data["model"]["score"] == ticket.proposal_score

    IntelligencePolicy.objects.filter(pk=1).update(auto_dispatch_threshold=1.0)
    assert register(WAGES + "？", staff["agent"]).state == State.REGISTERED


def test_intake_without_a_model_registers_and_says_so_once(staff, caplog):
    with caplog.at_level(logging.WARNING, logger="routing.intelligence"):
        first = register(WAGES, staff["agent"])
        second = register(WAGES + "。", staff["agent"])
    assert first.proposed_category is None and second.proposed_category is None
    assert first.state == State.REGISTERED
    assert caplog.text.count("no classifier model is trained") == 1


def test_a_damaged_model_is_not_served_and_intake_goes_on(staff, caplog):
    ClassifierModel.objects.create(version="broken-1", examples=1, artifact=b"not a model", active=True)
    with caplog.at_level(logging.ERROR, logger="routing.intelligence"):
        ticket = register(WAGES, staff["agent"])
    assert ticket.pk and ticket.proposed_category is None
    assert "classifier model broken-1 cannot be loaded" in caplog.text


# --- versions across processes -------------------------------------------------------------------
CHILD = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
django.setup()
from routing import intelligence
print("VERSION", intelligence.classify(sys.argv[1]).model["version"])
"""


def _child_env() -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env.setdefault("SECRET_KEY", "tests-only-not-a-secret-" + "0123456789" * 4)
    return env


def _child(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_every_process_serves_the_version_another_process_trained(database_url, monkeypatch):
    demo.load_categories()
    mine = training.train(include_tickets=False)
    assert intelligence.classify(WAGES).model["version"] == mine.version
    out = _child("-c", CHILD, WAGES)
    assert f"VERSION {mine.version}" in out  # a second process serves what this one trained

    out = _child("manage.py", "train_classifier", "--bootstrap-only")  # a third process trains a new version
    assert "held-out" in out and "macro-F1" in out and "confusion" in out
    newer = ClassifierModel.objects.get(active=True)
    assert newer.version != mine.version
    assert intelligence.classify(WAGES).model["version"] == newer.version  # this process switches at its next check
    assert connection.vendor == "postgresql"


# --- the API -----------------------------------------------------------------------------------
@pytest.fixture
def client_of(staff):
    from rest_framework.test import APIClient

    def make(name):
        client = APIClient()
        client.force_authenticate(staff[name])
        return client

    return make


def test_classify_api(staff, client_of):
    row = training.train(include_tickets=False)
    response = client_of("agent").post("/api/v1/classify/", {"text": WAGES, "title": "讨薪"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["categories"]) >= 3
    best = body["categories"][0]
    assert best["path_names"][0] == "劳动和社会保障" and len(best["path_names"]) == 3
    assert Category.objects.get(pk=best["id"]).name == best["name"] == best["path_names"][-1]
    scores = [c["score"] for c in body["categories"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    assert body["type"] in TicketType.values and body["department"]["code"] == "renshe"
    assert body["model"] == {"version": row.version, "trained_at": row.trained_at.isoformat(), "examples": row.examples}


@pytest.mark.parametrize(
    "payload, field",
    [({}, "text"), ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": "x" * 8001}, "text"), ({"text": ["a"]}, "text"),
     ({"text": "路灯", "title": "t" * 201}, "title"), ([1, 2], "text")],
)  # fmt: skip
def test_classify_api_refuses_bad_input(staff, client_of, payload, field):
    training.train(include_tickets=False)
    response = client_of("dispatcher").post("/api/v1/classify/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_classify_api_roles_and_missing_model(staff, client_of):
    from rest_framework.test import APIClient

    assert APIClient().post("/api/v1/classify/", {"text": WAGES}, format="json").status_code in {401, 403}
    response = client_of("dept").post("/api/v1/classify/", {"text": WAGES}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    response = client_of("agent").post("/api/v1/classify/", {"text": WAGES}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_model"


def test_ticket_api_shows_the_proposal_and_dispatch_takes_a_category(staff, client_of):
    training.train(include_tickets=False)
    agent, dispatcher = client_of("agent"), client_of("dispatcher")
    created = agent.post("/api/v1/tickets/", {"channel": "web", "type": "help", "description": WAGES}, format="json").json()
    proposed = created["proposed_category"]
    assert proposed["path_names"][0] == "劳动和社会保障" and 0 < proposed["score"] <= 1 and proposed["model"]
    assert created["proposal"]["terms"] and created["proposal_score"] == proposed["score"]
    chosen = leaf_under("城乡建设")
    response = dispatcher.post(f"/api/v1/tickets/{created['number']}/dispatch/", {"department": "zhujian", "category": chosen.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["category"]["id"] == chosen.pk
    assert CategoryCorrection.objects.filter(ticket__number=created["number"], chosen=chosen).exists()
    bad = dispatcher.post(f"/api/v1/tickets/{agent.post('/api/v1/tickets/', {'channel': 'web', 'type': 'help', 'description': WAGES + '。'}, format='json').json()['number']}/dispatch/",
                          {"department": "zhujian", "category": 10**9}, format="json")  # fmt: skip
    assert bad.status_code == 400 and "category" in bad.json()["error"]["details"]


@pytest.mark.parametrize("channel", ["sms", "web", "chat", "open311", "phone"])
def test_every_channel_gets_a_proposal(staff, channel):
    training.train(include_tickets=False)
    ticket = register(f"{WAGES}（{channel}）", staff["agent"], channel=channel)
    assert ticket.proposed_category is not None and ticket.proposal_score > 0
