"""分档分类评价: ratings per ticket type in three tiers; a supervisor leaves an unreasonable rating or a
red card out of the KPIs with a reason; a department appeals (复核申诉) an unsatisfied rating or a red
card, a supervisor upholds or rejects it; every step is an event and the KPIs say what they left out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from routing import actions, kpis, ratings, sweep
from routing.errors import InvalidInput, NotAllowed, TransitionConflict
from routing.models import ExportRecord, KpiAppeal, KpiExclusion, KpiRolledDay, TicketEvent
from routing.states import Satisfaction, State, TicketType

Outcome = KpiAppeal.Outcome


@pytest.fixture
def api(cast):
    """The cast's API clients, with tokens from the database (the token endpoint's per-address limit is tested on its own)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def client(name: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=cast[name])[0].key}")
        return c

    return client


@pytest.fixture
def rated(new_ticket, cast, departments):
    """A ticket of ``type`` answered by the city management bureau and rated ``satisfaction`` at the callback."""

    def make(satisfaction=Satisfaction.UNSATISFIED, type=TicketType.COMPLAINT):
        t = actions.dispatch_ticket(new_ticket(type=type), department=departments["city_mgmt"], by=cast["dispatcher"])
        t = actions.accept_ticket(t, by=cast["dept_own"])
        t = actions.reply_ticket(t, founded=True, solved=True, text="已修复路灯", basis="城市照明管理办法", by=cast["dept_own"])
        t = actions.approve_reply(t, by=cast["dispatcher"])
        return actions.callback_ticket(t, reached=True, solved=satisfaction != Satisfaction.UNSATISFIED, satisfaction=satisfaction, by=cast["agent"])

    return make


def satisfaction(report=None):
    value = (report or kpis.compute())["totals"]["satisfaction"]
    return value["numerator"], value["denominator"]


def red_carded(new_ticket, cast, departments):
    """Dispatched, accepted and left past its handle deadline: the sweep's red card settles the round as late."""
    t = actions.dispatch_ticket(new_ticket(), department=departments["city_mgmt"], by=cast["dispatcher"])
    t = actions.accept_ticket(t, by=cast["dept_own"])
    return t


def test_ratings_are_reported_per_ticket_type_in_three_tiers(rated):
    rated(Satisfaction.SATISFIED, TicketType.COMPLAINT)
    rated(Satisfaction.BASICALLY_SATISFIED, TicketType.COMPLAINT)
    rated(Satisfaction.UNSATISFIED, TicketType.COMPLAINT)
    rated(Satisfaction.SATISFIED, TicketType.INQUIRY)

    report = ratings.report()
    by_type = {row["type"]: row for row in report["types"]}
    assert set(by_type) == {TicketType.COMPLAINT, TicketType.INQUIRY}
    complaint = by_type[TicketType.COMPLAINT]
    assert (complaint["rated"], complaint["satisfied"], complaint["basically_satisfied"], complaint["unsatisfied"]) == (3, 1, 1, 1)
    assert complaint["satisfaction"] == 0.6667 and complaint["full_satisfaction"] == 0.3333 and complaint["label"] == "投诉"
    assert (by_type[TicketType.INQUIRY]["rated"], by_type[TicketType.INQUIRY]["satisfaction"]) == (1, 1.0)
    assert (report["totals"]["rated"], report["totals"]["unsatisfied"]) == (4, 1)
    # the same figures as the KPI report grouped by type
    groups = {g["key"]: g["metrics"] for g in kpis.compute(by="type")["groups"]}
    assert groups[TicketType.COMPLAINT]["satisfaction"]["numerator"] == 2 and groups[TicketType.INQUIRY]["full_satisfaction"]["value"] == 1.0


def test_a_supervisor_leaves_an_unreasonable_rating_out_with_a_reason_and_the_kpis_say_so(rated, cast):
    fair, unreasonable = rated(Satisfaction.SATISFIED), rated(Satisfaction.UNSATISFIED)
    assert satisfaction() == (1, 2)

    with pytest.raises(NotAllowed):
        actions.exclude_from_assessment(unreasonable, subject="rating", reason="诉求超出法定职责", by=cast["dispatcher"])
    with pytest.raises(InvalidInput):
        actions.exclude_from_assessment(unreasonable, subject="rating", reason="  ", by=cast["supervisor"])
    with pytest.raises(InvalidInput):
        actions.exclude_from_assessment(unreasonable, subject="cards", reason="诉求超出法定职责", by=cast["supervisor"])
    assert not KpiExclusion.objects.exists()

    exclusion = actions.exclude_from_assessment(unreasonable, subject="rating", reason="诉求超出法定职责，市民要求无法律依据", by=cast["supervisor"])
    rating = TicketEvent.objects.get(ticket=unreasonable, kind="ticket.callback")
    assert (exclusion.event, exclusion.subject, exclusion.decided_by, exclusion.appeal) == (rating, "rating", cast["supervisor"], None)
    step = TicketEvent.objects.get(ticket=unreasonable, kind="ticket.rating_excluded")
    assert step.data["reason"] == "诉求超出法定职责，市民要求无法律依据" and step.data["event"] == rating.pk and not step.public
    assert step.department.code == "chengguan" and step.actor == cast["supervisor"]

    report = kpis.compute()
    assert satisfaction(report) == (1, 1)
    assert report["excluded"] == {"tickets": 0, "ratings": 1, "red_cards": 0}
    assert TicketEvent.objects.filter(ticket=unreasonable, kind="ticket.callback").exists()  # the rating stays on the timeline
    with pytest.raises(TransitionConflict) as again:
        actions.exclude_from_assessment(unreasonable, subject="rating", reason="重复", by=cast["supervisor"])
    assert again.value.code == "nothing_to_review"  # its only rating is out already
    with pytest.raises(TransitionConflict) as twice:
        actions.exclude_from_assessment(unreasonable, subject="rating", reason="重复", event_id=rating.pk, by=cast["supervisor"])
    assert twice.value.code == "already_excluded"
    assert KpiExclusion.objects.count() == 1 and fair.state == State.CLOSED


def test_an_excluded_rating_leaves_rolled_up_days_too(rated, cast):
    day = timezone.localdate() - dt.timedelta(days=3)
    with time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=timezone.get_current_timezone()), tick=False):
        rated(Satisfaction.SATISFIED)
        unreasonable = rated(Satisfaction.UNSATISFIED, TicketType.INQUIRY)
    assert kpis.roll_up() >= 1 and KpiRolledDay.objects.filter(day=day).exists()
    actions.exclude_from_assessment(unreasonable, subject="rating", reason="恶意差评", by=cast["supervisor"])
    rolled = kpis.compute_each(start=day, groupings=["", "type", "department"])
    kpis.forget_roll_ups()
    live = kpis.compute_each(start=day, groupings=["", "type", "department"])
    assert rolled == live
    assert satisfaction(rolled[""]) == (1, 1)
    assert {g["key"]: g["metrics"]["satisfaction"]["denominator"] for g in rolled["type"]["groups"]} == {TicketType.COMPLAINT: 1, TicketType.INQUIRY: 0}


def test_a_department_appeals_an_unsatisfied_rating_and_an_upheld_appeal_leaves_it_out(rated, cast):
    ticket = rated(Satisfaction.UNSATISFIED)
    with pytest.raises(NotAllowed) as other:
        actions.file_appeal(ticket, subject="rating", reason="市民诉求为无理要求", by=cast["dept_other"])
    assert other.value.code == "forbidden_department"
    with pytest.raises(NotAllowed):
        actions.file_appeal(ticket, subject="rating", reason="市民诉求为无理要求", by=cast["agent"])

    before = timezone.now()
    appeal = actions.file_appeal(ticket, subject="rating", reason="市民要求拆除合法建筑，超出职责范围", by=cast["dept_own"])
    assert (appeal.outcome, appeal.department.code, appeal.filed_by, appeal.event.kind) == (Outcome.PENDING, "chengguan", cast["dept_own"], "ticket.callback")
    assert before + dt.timedelta(days=2) < appeal.decide_due <= before + dt.timedelta(days=8)  # three working days
    filed = TicketEvent.objects.get(ticket=ticket, kind="ticket.appeal_filed")
    assert filed.data["appeal"] == appeal.pk and filed.data["what"] == "回访评价「不满意」" and "decide_due" in filed.data

    with pytest.raises(TransitionConflict) as again:
        actions.file_appeal(ticket, subject="rating", reason="再次申诉", event_id=appeal.event_id, by=cast["dept_own"])
    assert again.value.code == "already_appealed"
    with pytest.raises(TransitionConflict) as waiting:
        actions.exclude_from_assessment(ticket, subject="rating", reason="直接剔除", event_id=appeal.event_id, by=cast["supervisor"])
    assert waiting.value.code == "appeal_pending"
    with pytest.raises(NotAllowed):
        actions.decide_appeal(appeal, upheld=True, reason="同意", by=cast["dispatcher"])
    with pytest.raises(InvalidInput):
        actions.decide_appeal(appeal, upheld="yes", reason="同意", by=cast["supervisor"])
    assert satisfaction() == (0, 1)

    decided = actions.decide_appeal(appeal, upheld=True, reason="经核实，市民诉求无法律依据", by=cast["supervisor"])
    assert decided.outcome == Outcome.UPHELD and decided.on_time and decided.decided_by == cast["supervisor"]
    exclusion = KpiExclusion.objects.get(event=appeal.event)
    assert (exclusion.appeal, exclusion.reason) == (decided, "经核实，市民诉求无法律依据")
    upheld = TicketEvent.objects.get(ticket=ticket, kind="ticket.appeal_upheld")
    assert upheld.data["on_time"] is True and upheld.department.code == "chengguan"
    assert satisfaction() == (0, 0) and kpis.compute()["excluded"]["ratings"] == 1
    with pytest.raises(TransitionConflict) as done:
        actions.decide_appeal(appeal, upheld=False, reason="改判", by=cast["supervisor"])
    assert done.value.code == "already_decided"


def test_a_rejected_appeal_keeps_the_rating_and_only_unsatisfied_ratings_are_appealed(rated, cast, new_ticket):
    ticket = rated(Satisfaction.UNSATISFIED)
    appeal = actions.file_appeal(ticket, subject="rating", reason="已按规定处理", by=cast["dept_own"])
    decided = actions.decide_appeal(appeal, upheld=False, reason="答复未回应市民诉求", by=cast["supervisor"])
    assert decided.outcome == Outcome.REJECTED and not KpiExclusion.objects.exists()
    assert TicketEvent.objects.filter(ticket=ticket, kind="ticket.appeal_rejected").count() == 1
    assert satisfaction() == (0, 1)

    with pytest.raises(TransitionConflict) as satisfied:
        actions.file_appeal(rated(Satisfaction.SATISFIED), subject="rating", reason="无", by=cast["dept_own"])
    assert satisfied.value.code == "nothing_to_review"
    with pytest.raises(TransitionConflict) as unrated:
        actions.file_appeal(new_ticket(), subject="red_card", reason="无", by=cast["dept_own"])
    assert unrated.value.code == "nothing_to_review"
    assert KpiAppeal.objects.count() == 1


def test_a_red_card_that_settled_a_round_is_appealed_and_upheld_it_leaves_on_time_completion(new_ticket, cast, departments):
    ticket = red_carded(new_ticket, cast, departments)
    with time_machine.travel(ticket.handle_due + dt.timedelta(hours=1), tick=False):
        assert sweep.run().red == 1
        card = TicketEvent.objects.get(ticket=ticket, kind="ticket.card_red")
        assert card.data["settles"] is True
        completion = kpis.compute()["totals"]["on_time_completion"]
        assert (completion["numerator"], completion["denominator"]) == (0, 1)
        appeal = actions.file_appeal(ticket, subject="red_card", reason="市民长期联系不上，无法入户核实", by=cast["dept_own"])
        assert appeal.event == card
        actions.decide_appeal(appeal, upheld=True, reason="经核实，属实", by=cast["supervisor"])
        report = kpis.compute()
    assert (report["totals"]["on_time_completion"]["denominator"], report["excluded"]["red_cards"]) == (0, 1)


def test_the_appeal_window_closes_after_five_working_days(rated, cast):
    ticket = rated(Satisfaction.UNSATISFIED)
    with time_machine.travel(timezone.now() + dt.timedelta(days=10), tick=False):
        with pytest.raises(TransitionConflict) as late:
            actions.file_appeal(ticket, subject="rating", reason="迟到的申诉", by=cast["dept_own"])
        assert late.value.code == "appeal_window_closed"
        # a supervisor may still leave it out
        actions.exclude_from_assessment(ticket, subject="rating", reason="经督办核实为恶意差评", by=cast["supervisor"])
    assert not KpiAppeal.objects.exists() and KpiExclusion.objects.count() == 1


# --- the API ------------------------------------------------------------------------------------
def test_the_api_files_lists_and_decides_appeals(rated, cast, api):
    ticket = rated(Satisfaction.UNSATISFIED)
    dept, supervisor = api("dept_own"), api("supervisor")
    response = dept.post(f"/api/v1/tickets/{ticket.number}/appeals/", {"subject": "rating", "reason": "市民诉求超出职责范围"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "pending" and body["ticket"] == ticket.number and body["event"]["kind"] == "ticket.callback"
    assert body["department"]["code"] == "chengguan" and body["filed_by"] == "chengguan"

    assert [a["id"] for a in dept.get("/api/v1/appeals/").json()["results"]] == [body["id"]]
    assert api("dept_other").get("/api/v1/appeals/").json()["results"] == []
    assert [a["id"] for a in supervisor.get("/api/v1/appeals/?outcome=pending").json()["results"]] == [body["id"]]
    assert supervisor.get("/api/v1/appeals/?outcome=upheld").json()["results"] == []
    assert api("agent").get("/api/v1/appeals/").status_code == 403
    assert supervisor.get("/api/v1/appeals/?outcome=maybe").status_code == 400

    assert api("dispatcher").post(f"/api/v1/appeals/{body['id']}/decide/", {"upheld": True, "reason": "同意"}, format="json").status_code == 403
    assert supervisor.post("/api/v1/appeals/999999/decide/", {"upheld": True, "reason": "同意"}, format="json").status_code == 404
    decided = supervisor.post(f"/api/v1/appeals/{body['id']}/decide/", {"upheld": True, "reason": "经核实属实"}, format="json")
    assert decided.status_code == 200, decided.content
    assert decided.json()["outcome"] == "upheld" and decided.json()["decided_by"] == "boss"
    again = supervisor.post(f"/api/v1/appeals/{body['id']}/decide/", {"upheld": False, "reason": "改判"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"

    detail = supervisor.get(f"/api/v1/tickets/{ticket.number}/").json()
    assert [a["outcome"] for a in detail["appeals"]] == ["upheld"]
    assert detail["kpi_exclusions"][0]["reason"] == "经核实属实" and detail["kpi_exclusions"][0]["appeal"] == body["id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reason": "理由"}, "subject"),
        ({"subject": "stars", "reason": "理由"}, "subject"),
        ({"subject": "rating"}, "reason"),
        ({"subject": "rating", "reason": "   "}, "reason"),
        ({"subject": "rating", "reason": "理由", "event": "12"}, "event"),
        ({"subject": "rating", "reason": "理由", "event": True}, "event"),
        ({"subject": "rating", "reason": "理由", "event": 1.5}, "event"),
        ({"subject": "rating", "reason": "长" * 2001}, "reason"),
    ],
)
def test_a_bad_appeal_is_a_400_and_writes_nothing(rated, api, body, field):
    ticket = rated(Satisfaction.UNSATISFIED)
    events = TicketEvent.objects.count()
    response = api("dept_own").post(f"/api/v1/tickets/{ticket.number}/appeals/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not KpiAppeal.objects.exists() and TicketEvent.objects.count() == events


def test_the_api_refuses_what_is_not_the_callers_and_what_is_not_there(rated, api, new_ticket):
    ticket, other = rated(Satisfaction.UNSATISFIED), rated(Satisfaction.UNSATISFIED)
    other_rating = TicketEvent.objects.get(ticket=other, kind="ticket.callback")
    dept = api("dept_own")
    wrong_event = dept.post(f"/api/v1/tickets/{ticket.number}/appeals/", {"subject": "rating", "reason": "理由", "event": other_rating.pk}, format="json")
    assert wrong_event.status_code == 409 and wrong_event.json()["error"]["code"] == "nothing_to_review"
    assert api("supervisor").post(f"/api/v1/tickets/{ticket.number}/appeals/", {"subject": "rating", "reason": "理由"}, format="json").status_code == 403
    assert dept.post(f"/api/v1/tickets/{ticket.number}/kpi-exclusions/", {"subject": "rating", "reason": "理由"}, format="json").status_code == 403
    assert api("dept_other").post(f"/api/v1/tickets/{ticket.number}/appeals/", {"subject": "rating", "reason": "理由"}, format="json").status_code == 404
    nothing = api("supervisor").post(f"/api/v1/tickets/{new_ticket().number}/kpi-exclusions/", {"subject": "red_card", "reason": "理由"}, format="json")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_review"
    excluded = api("supervisor").post(f"/api/v1/tickets/{ticket.number}/kpi-exclusions/", {"subject": "rating", "reason": "恶意差评"}, format="json")
    assert excluded.status_code == 201 and excluded.json()["event"]["what"] == "回访评价「不满意」"
    assert not KpiAppeal.objects.exists()


def test_the_ratings_report_and_its_export(rated, cast, api):
    rated(Satisfaction.SATISFIED, TicketType.INQUIRY)
    actions.exclude_from_assessment(rated(Satisfaction.UNSATISFIED), subject="rating", reason="恶意差评，多次辱骂工作人员", by=cast["supervisor"])
    today = timezone.localdate().isoformat()
    report = api("dispatcher").get(f"/api/v1/kpis/ratings/?from={today}&to={today}")
    assert report.status_code == 200, report.content
    body = report.json()
    assert body["from"] == today and body["excluded"] == {"tickets": 0, "ratings": 1, "red_cards": 0}
    assert [(t["type"], t["rated"]) for t in body["types"]] == [("inquiry", 1)]
    assert body["exclusions"][0]["reason"] == "恶意差评，多次辱骂工作人员" and body["exclusions"][0]["by_appeal"] is False
    assert api("dept_own").get("/api/v1/kpis/ratings/").status_code == 403
    assert api("supervisor").get("/api/v1/kpis/ratings/?from=2026-13-01").status_code == 400

    csv = api("supervisor").get(f"/api/v1/kpis/ratings/export/?from={today}&to={today}&format=csv")
    assert csv.status_code == 200
    text = b"".join(csv.streaming_content).decode("utf-8-sig")
    assert "咨询" in text and "恶意差评，多次辱骂工作人员" in text and "不纳入考核：工单 0 件，评价 1 条，红牌 0 张" in text
    assert ExportRecord.objects.get(kind="ratings").user == cast["supervisor"]
    assert api("dept_own").get("/api/v1/kpis/ratings/export/").status_code == 403
    kpi = api("supervisor").get("/api/v1/kpis/?by=type").json()
    rated_per_type = {g["key"]: g["metrics"]["satisfaction"]["denominator"] for g in kpi["groups"]}
    assert kpi["excluded"]["ratings"] == 1 and rated_per_type == {"inquiry": 1, "complaint": 0}


# --- the pages --------------------------------------------------------------------------------------
def test_the_pages_offer_each_role_its_step(rated, cast):
    ticket = rated(Satisfaction.UNSATISFIED)
    department = Client()
    department.force_login(cast["dept_own"])
    page = department.get(f"/tickets/{ticket.number}/").content.decode()
    assert 'id="assessment"' in page and "对不满意评价申请复核" in page and f"/api/v1/tickets/{ticket.number}/appeals/" in page

    appeal = actions.file_appeal(ticket, subject="rating", reason="市民诉求超出职责范围", by=cast["dept_own"])
    page = department.get(f"/tickets/{ticket.number}/").content.decode()
    assert "对不满意评价申请复核" not in page and "待复核" in page and "市民诉求超出职责范围" in page

    supervisor = Client()
    supervisor.force_login(cast["supervisor"])
    page = supervisor.get(f"/tickets/{ticket.number}/").content.decode()
    assert f"/api/v1/appeals/{appeal.pk}/decide/" in page and "评价不纳入考核" not in page  # decided through the appeal
    board = supervisor.get("/supervisor/").content.decode()
    assert 'id="ratings"' in board and f'data-appeal="{appeal.pk}"' in board and "/api/v1/kpis/ratings/export/" in board

    actions.decide_appeal(appeal, upheld=True, reason="经核实属实", by=cast["supervisor"])
    board = supervisor.get("/supervisor/").content.decode()
    assert 'data-ratings="1"' in board and "经核实属实" in board and "没有待复核的申诉" in board
    page = department.get(f"/tickets/{ticket.number}/").content.decode()
    assert "申诉成立" in page and "复核申诉成立" in page  # the outcome, and the step on the timeline
    workspace = department.get("/department/").content.decode()
    assert f'data-appeal="{appeal.pk}" data-outcome="upheld"' in workspace and "经核实属实" in workspace


def test_the_appeals_list_exports_for_supervisors_and_the_department_its_own(rated, cast, api):
    appeal = actions.file_appeal(rated(Satisfaction.UNSATISFIED), subject="rating", reason="市民诉求超出职责范围", by=cast["dept_own"])
    actions.decide_appeal(appeal, upheld=False, reason="答复未回应核心诉求", by=cast["supervisor"])
    response = api("dept_own").get("/api/v1/appeals/export/?format=csv")
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert appeal.ticket.number in text and "申诉驳回" in text and "答复未回应核心诉求" in text
    other = b"".join(api("dept_other").get("/api/v1/appeals/export/?format=csv").streaming_content).decode("utf-8-sig")
    assert appeal.ticket.number not in other
    assert api("supervisor").get("/api/v1/appeals/export/?format=xlsx&outcome=rejected").status_code == 200
    assert api("dispatcher").get("/api/v1/appeals/export/?format=csv").status_code == 403
    assert api("supervisor").get("/api/v1/appeals/export/?format=pdf").status_code == 400
    assert ExportRecord.objects.filter(kind="appeals").count() == 3
