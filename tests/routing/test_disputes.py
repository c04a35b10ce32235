"""派单异议: a department disputes a dispatch citing the catalogue, the desk decides within a deadline,
the disputes are a KPI per department and per catalogue entry, and upheld ones propose catalogue changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from routing import actions, disputes, kpis
from routing.errors import InvalidInput, NotAllowed
from routing.models import DispatchDispute, DispatchRule, TicketEvent
from routing.roles import citizen_actor
from routing.states import State

Outcome = DispatchDispute.Outcome


@pytest.fixture
def catalogue(categories, departments):
    """The city's catalogue: street lights to city management (the entry that dispatches), and the
    housing bureau's entry that the city management staff cite."""
    lights = DispatchRule.objects.create(name="路灯报修", category=categories["leaf"], department=departments["city_mgmt"])
    housing = DispatchRule.objects.create(name="小区公共设施（物业）", category=categories["mid"], keywords="小区 物业", department=departments["housing"])
    return {"lights": lights, "housing": housing}


@pytest.fixture
def dispatched(new_ticket, cast, departments, catalogue):
    """A ticket the dispatcher sent where the catalogue proposed."""

    def make(**overrides):
        ticket = new_ticket(**overrides)
        assert ticket.proposed_rule == catalogue["lights"]
        return actions.dispatch_ticket(ticket, department=departments["city_mgmt"], by=cast["dispatcher"])

    return make


@pytest.fixture
def api(cast):
    """The cast's API clients with their tokens. The tokens are taken from the database, not from
    /api/v1/auth/token/ (tested on its own), whose per-address limit this file's many clients would spend."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def client(name: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=cast[name])[0].key}")
        return c

    return client


def dispute(ticket, cast, catalogue, departments, **extra):
    return actions.request_return(
        ticket, reason="小区内路灯由物业负责维护，不属于市政路灯", cited_rule=catalogue["housing"],
        suggested_department=departments["housing"], by=cast["dept_own"], **extra,
    )  # fmt: skip


def test_a_department_disputes_citing_the_catalogue_and_the_desk_has_a_deadline(dispatched, cast, catalogue, departments):
    ticket = dispatched()
    event = TicketEvent.objects.get(ticket=ticket, kind="ticket.dispatched")
    assert event.data["catalogue_rule"] == catalogue["lights"].pk  # the entry behind the dispatch

    before = timezone.now()
    ticket = dispute(ticket, cast, catalogue, departments)
    assert ticket.state == State.RETURN_REQUESTED
    row = DispatchDispute.objects.get(ticket=ticket)
    assert (row.department, row.dispatched_rule, row.cited_rule, row.suggested_department) == (
        departments["city_mgmt"], catalogue["lights"], catalogue["housing"], departments["housing"])  # fmt: skip
    assert row.outcome == Outcome.PENDING and row.filed_by == cast["dept_own"]
    assert before + dt.timedelta(hours=12) < row.decide_due <= before + dt.timedelta(days=4)  # one working day
    assert not row.overdue
    filed = TicketEvent.objects.get(ticket=ticket, kind="ticket.return_requested")
    assert filed.data["cited_rule_name"] == "小区公共设施（物业）" and filed.data["suggested_department_name"] == "市住房和城乡建设局"
    assert "decide_due" in filed.data


def test_upheld_with_redispatch_is_one_step_and_the_dispute_is_settled(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    ticket = actions.approve_return(ticket, department=departments["housing"], reason="物业管理范围", by=cast["dispatcher"])
    assert ticket.state == State.DISPATCHED and ticket.department == departments["housing"]
    row = DispatchDispute.objects.get(ticket=ticket)
    assert row.outcome == Outcome.UPHELD and row.redispatched_to == departments["housing"] and row.decided_by == cast["dispatcher"]
    assert row.on_time and row.decision_reason == "物业管理范围"
    kinds = list(TicketEvent.objects.filter(ticket=ticket).order_by("id").values_list("kind", flat=True))
    assert kinds[-3:] == ["ticket.return_requested", "ticket.return_approved", "ticket.dispatched"]
    approved = TicketEvent.objects.get(ticket=ticket, kind="ticket.return_approved")
    assert approved.data["on_time"] is True and approved.data["redispatched_to_name"] == "市住房和城乡建设局"


def test_upheld_without_redispatch_goes_back_to_the_queue(dispatched, cast, catalogue, departments):
    ticket = actions.approve_return(dispute(dispatched(), cast, catalogue, departments), by=cast["supervisor"])
    assert ticket.state == State.REGISTERED and ticket.department is None
    assert DispatchDispute.objects.get(ticket=ticket).outcome == Outcome.UPHELD


def test_a_redispatch_back_to_the_disputing_department_is_refused_and_nothing_changes(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    with pytest.raises(InvalidInput):
        actions.approve_return(ticket, department=departments["city_mgmt"], by=cast["dispatcher"])
    ticket.refresh_from_db()
    assert ticket.state == State.RETURN_REQUESTED
    assert DispatchDispute.objects.get(ticket=ticket).outcome == Outcome.PENDING
    assert not TicketEvent.objects.filter(ticket=ticket, kind="ticket.return_approved").exists()


def test_rejected_goes_back_and_a_late_decision_is_recorded_as_late(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    DispatchDispute.objects.filter(ticket=ticket).update(decide_due=timezone.now() - dt.timedelta(hours=1))
    assert disputes.pending(ticket).overdue
    ticket = actions.reject_return(ticket, reason="路灯属市政设施", by=cast["dispatcher"])
    assert ticket.state == State.DISPATCHED and ticket.department == departments["city_mgmt"]
    row = DispatchDispute.objects.get(ticket=ticket)
    assert row.outcome == Outcome.REJECTED and row.on_time is False and row.overdue
    assert TicketEvent.objects.get(ticket=ticket, kind="ticket.return_rejected").data["on_time"] is False


def test_only_the_desk_decides_and_a_withdrawn_ticket_voids_the_dispute(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    with pytest.raises(NotAllowed):
        actions.approve_return(ticket, department=departments["housing"], by=cast["dept_own"])
    ticket = actions.withdraw_ticket(ticket, by=citizen_actor(ticket.citizen))
    assert ticket.state == State.WITHDRAWN
    assert DispatchDispute.objects.get(ticket=ticket).outcome == Outcome.VOID


def test_a_second_dispute_after_a_rejection_is_a_new_record(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    ticket = actions.reject_return(ticket, reason="路灯属市政设施", by=cast["dispatcher"])
    ticket = actions.request_return(ticket, reason="现场核实确为小区内部路灯", by=cast["dept_own"])
    assert list(DispatchDispute.objects.filter(ticket=ticket).order_by("id").values_list("outcome", flat=True)) == [Outcome.REJECTED, Outcome.PENDING]


def test_the_report_counts_per_department_and_per_rule_and_proposes_the_catalogue_change(dispatched, cast, catalogue, departments):
    upheld = [dispute(dispatched(), cast, catalogue, departments) for _ in range(3)]
    for ticket in upheld:
        actions.approve_return(ticket, department=departments["housing"], by=cast["dispatcher"])
    rejected = dispute(dispatched(), cast, catalogue, departments)
    actions.reject_return(rejected, reason="路灯属市政设施", by=cast["dispatcher"])
    dispatched()  # dispatched, not disputed
    pending = dispute(dispatched(), cast, catalogue, departments)
    DispatchDispute.objects.filter(ticket=pending).update(decide_due=timezone.now() - dt.timedelta(minutes=5))

    report = disputes.report(*kpis.period(None, None)[:2])
    row = next(r for r in report["departments"] if r["department"] == departments["city_mgmt"].pk)
    # 6 dispatches to city management; the 3 re-dispatches went to housing
    assert (row["dispatched"], row["disputes"], row["upheld"], row["rejected"], row["pending"], row["overdue"]) == (6, 5, 3, 1, 1, 1)
    assert row["rate"] == pytest.approx(5 / 6, abs=1e-4) and row["upheld_rate"] == 0.75
    housing = next(r for r in report["departments"] if r["department"] == departments["housing"].pk)
    assert (housing["dispatched"], housing["disputes"], housing["rate"]) == (3, 0, 0.0)
    (rule,) = report["rules"]
    assert (rule["rule"], rule["dispatched"], rule["disputes"], rule["upheld"]) == (catalogue["lights"].pk, 6, 5, 3)
    (proposal,) = report["proposals"]
    assert proposal["rule"] == catalogue["lights"].pk and proposal["upheld"] == 3 and proposal["to_department_code"] == "zhujian"
    assert proposal["cited_rules"] == ["小区公共设施（物业）"] and sorted(proposal["tickets"]) == sorted(t.number for t in upheld)
    assert "路灯报修" in proposal["text"] and "市住房和城乡建设局" in proposal["text"]
    assert report["totals"] == {"dispatched": 9, "disputes": 5, "rate": 0.5556, "upheld": 3, "rejected": 1, "pending": 1, "overdue": 1}

    upheld[0].__class__.objects.filter(pk=upheld[0].pk).update(kpi_excluded=True, kpi_exclusion_reason="测试")
    assert disputes.report(*kpis.period(None, None)[:2])["totals"]["disputes"] == 4  # exclusions apply


# --- the API --------------------------------------------------------------------------------
def test_api_files_with_the_citation_and_upholds_with_redispatch(dispatched, cast, catalogue, departments, api):
    ticket = dispatched()
    entries = api("dept_own").get("/api/v1/catalogue/").json()
    assert {e["name"] for e in entries} == {"路灯报修", "小区公共设施（物业）"} and entries[0]["department"]["code"]

    body = {"reason": "小区内路灯由物业负责", "cited_rule": catalogue["housing"].pk, "suggested_department": "zhujian"}
    response = api("dept_own").post(f"/api/v1/tickets/{ticket.number}/request_return/", body, format="json")
    assert response.status_code == 200, response.content
    shown = api("dispatcher").get(f"/api/v1/tickets/{ticket.number}/").json()["dispute"]
    assert shown["cited_rule"]["name"] == "小区公共设施（物业）" and shown["suggested_department"]["code"] == "zhujian"
    assert shown["overdue"] is False and shown["decide_due"].endswith("+08:00")

    by_id = {"department": departments["housing"].pk}  # a department by its id works as well as by its code
    response = api("dispatcher").post(f"/api/v1/tickets/{ticket.number}/approve_return/", by_id, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "dispatched" and response.json()["department"]["code"] == "zhujian" and response.json()["dispute"] is None

    report = api("supervisor").get("/api/v1/kpis/disputes/").json()
    assert report["totals"]["upheld"] == 1 and report["proposals"][0]["to_department"] == "市住房和城乡建设局"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reason": "x", "cited_rule": 999999}, "cited_rule"),
        ({"reason": "x", "cited_rule": "路灯"}, "cited_rule"),
        ({"reason": "x", "suggested_department": "nope"}, "suggested_department"),
        ({"reason": "x", "suggested_department": "chengguan"}, "suggested_department"),  # its own department
        ({"cited_rule": 1}, "reason"),
        ({"reason": "x", "cited_rule": ""}, "cited_rule"),  # DRF alone would read "" as no rule
        ({"reason": "x", "cited_rule": "1"}, "cited_rule"),
        ({"reason": "x", "suggested_department": True}, "suggested_department"),
        ({"reason": "x", "suggested_department": ["zhujian"]}, "suggested_department"),
    ],
)
def test_api_refuses_a_bad_dispute_and_keeps_the_ticket(dispatched, cast, catalogue, departments, api, body, field):
    ticket = dispatched()
    response = api("dept_own").post(f"/api/v1/tickets/{ticket.number}/request_return/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    ticket.refresh_from_db()
    assert ticket.state == State.DISPATCHED and not DispatchDispute.objects.filter(ticket=ticket).exists()


def test_api_refuses_a_bad_decision(dispatched, cast, catalogue, departments, api):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    url = f"/api/v1/tickets/{ticket.number}/approve_return/"
    assert api("dispatcher").post(url, {"department": "nope"}, format="json").status_code == 400
    assert api("dispatcher").post(url, {"assisting": ["zhujian"]}, format="json").status_code == 400  # assisting only with a re-dispatch
    assert api("dispatcher").post(url, {"department": "chengguan"}, format="json").status_code == 400
    assert api("dept_own").post(url, {"department": "zhujian"}, format="json").status_code == 403
    ticket.refresh_from_db()
    assert ticket.state == State.RETURN_REQUESTED and disputes.pending(ticket) is not None


def test_api_report_roles_and_period(cast, api):
    assert api("dept_own").get("/api/v1/kpis/disputes/").status_code == 403
    assert api("agent").get("/api/v1/kpis/disputes/").status_code == 403
    assert api("dispatcher").get("/api/v1/kpis/disputes/?from=2026-02-30").status_code == 400
    assert api("dispatcher").get("/api/v1/kpis/disputes/?from=2026-03-02&to=2026-03-01").status_code == 400
    report = api("dispatcher").get("/api/v1/kpis/disputes/?from=2026-03-01&to=2026-03-31").json()
    assert report["from"] == "2026-03-01" and report["totals"]["disputes"] == 0 and report["departments"] == []


# --- the pages ------------------------------------------------------------------------------
def test_the_pages_show_the_dispute_its_deadline_and_the_proposals(dispatched, cast, catalogue, departments):
    ticket = dispute(dispatched(), cast, catalogue, departments)
    client = Client()
    client.force_login(cast["dept_own"])
    form = client.get(f"/tickets/{dispatched().number}/").content.decode()
    assert 'name="cited_rule"' in form and "小区公共设施（物业） → 市住房和城乡建设局" in form and 'name="suggested_department"' in form

    client.force_login(cast["dispatcher"])
    page = client.get("/dispatch/").content.decode()
    assert "派单异议" in page and "小区公共设施（物业）" in page and "裁定期限" in page
    assert '<option value="zhujian" selected>' in page  # the suggested department preselected for 改派
    DispatchDispute.objects.filter(ticket=ticket).update(decide_due=timezone.now() - dt.timedelta(hours=1))
    assert "裁定已超时" in client.get(f"/tickets/{ticket.number}/").content.decode()

    actions.approve_return(ticket, department=departments["housing"], by=cast["dispatcher"])
    client.force_login(cast["supervisor"])
    page = client.get("/supervisor/").content.decode()
    assert 'id="disputes"' in page and "派单目录修改建议" in page and "路灯报修" in page and ticket.number in page
    timeline = client.get(f"/tickets/{ticket.number}/").content.decode()
    assert "依据目录" in timeline and "改派至" in timeline


def test_the_report_exports_per_department_and_the_export_is_recorded(dispatched, cast, catalogue, departments, api):
    from routing.models import ExportRecord

    actions.approve_return(dispute(dispatched(), cast, catalogue, departments), department=departments["housing"], by=cast["dispatcher"])
    response = api("supervisor").get("/api/v1/kpis/disputes/export/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:4] == ["承办单位", "派单数", "异议数", "异议率"]
    assert lines[1].startswith("合计") and lines[1].split(",")[1:3] == ["2", "1"]
    assert any(line.startswith("市城市管理局,1,1,100.0") for line in lines)
    record = ExportRecord.objects.get(kind="disputes")
    assert record.user == cast["supervisor"] and record.format == "csv" and record.rows == len(lines) - 1
    xlsx = api("dispatcher").get("/api/v1/kpis/disputes/export/?format=xlsx")
    assert xlsx.status_code == 200 and b"".join(xlsx.streaming_content)[:2] == b"PK"
    assert api("dept_own").get("/api/v1/kpis/disputes/export/?format=csv").status_code == 403
    assert api("supervisor").get("/api/v1/kpis/disputes/export/?format=pdf").status_code == 400
