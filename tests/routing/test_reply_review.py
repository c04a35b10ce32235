"""Reply review: the scores and their reasons, stored with each reply and settled by the dispatcher,
the API's 4xx, a department seeing only its own tickets, the pages, and the figures on held-out pairs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from routing import actions
from routing.intelligence import review
from routing.models import ReplyReview, TicketEvent

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = ROOT / "tests" / "fixtures" / "replies_heldout.jsonl"

MESSAGE = "雨花区洞井街道鑫远小区旁边的工地每天晚上11点以后还在施工，打桩声音特别大，孩子没法睡觉，希望有关部门尽快处理。"
COMPLETE = (
    "网友您好！您的留言已收悉。现将有关情况回复如下：经查，您反映的鑫远小区旁工地为洞井安置房项目。5月20日，我局执法人员到现场核实，"
    "该工地确实存在夜间超时施工行为。我局已依据《中华人民共和国噪声污染防治法》第四十三条对施工单位立案查处，责令其停止夜间施工。"
    "目前该工地已未再发现夜间施工。如有疑问，请拨打0731-85123456。感谢您对城市管理工作的关注和支持！"
)
ELSEWHERE = "网友您好！经查，您反映的芙蓉区东湖街道桂花苑小区夜间施工问题，我局已于6月3日责令施工单位整改，目前已停止夜间作业。"
PASSING = "您好，您反映的问题不属于我局职责范围，建议您向区住建局反映。"
ACKNOWLEDGED = "网友您好！您的留言已收悉，感谢您对我们工作的关注和支持。我们高度重视，将进一步加强管理。"


def _findings(result: review.Assessment) -> dict[str, review.Finding]:
    return {f.code: f for f in result.findings}


# --- the scores and their reasons -------------------------------------------------------------
def test_a_complete_reply_has_every_part_and_no_missing_reason():
    result = review.assess(MESSAGE, COMPLETE)
    assert all(where is not None for where in result.elements.values()), result.elements
    assert not [f for f in result.findings if f.severity == "missing"], result.findings
    assert result.completeness > 0.9 and result.relevance > 0.6 and not result.flagged
    start, end = result.elements["basis"]
    assert "噪声污染防治法" in COMPLETE[start:end]


def test_an_acknowledgement_says_what_it_lacks_and_is_mostly_boilerplate():
    result = review.assess(MESSAGE, ACKNOWLEDGED)
    found = _findings(result)
    for code in ("missing_finding", "missing_action", "missing_result", "missing_basis", "missing_date"):
        assert code in found, code
    assert found["missing_result"].message == "未说明处理结果" and found["missing_basis"].message == "未引用政策或法规依据"
    assert result.boilerplate >= 0.9 and "boilerplate" in found and found["boilerplate"].spans
    assert result.completeness < 0.3 and result.flagged
    assert found["missing_place"].message.startswith("未回应诉求中的地点") and "鑫远小区" in found["missing_place"].message


def test_buck_passing_is_found_where_it_is_written():
    result = review.assess(MESSAGE, PASSING)
    passing = [f for f in result.findings if f.code == "passing"]
    assert {f.message for f in passing} == {"疑似推诿：不属于本单位职责", "疑似推诿：请其向他处反映"}
    spans = [PASSING[s:e] for f in passing for s, e in f.spans]
    assert any("不属于我局职责范围" in text for text in spans) and any("向区住建局反映" in text for text in spans)
    assert result.passing >= 0.5 and result.flagged


def test_a_referral_after_acting_is_not_scored_as_buck_passing():
    reply = COMPLETE + "涉及施工许可的问题，建议您向区住建局咨询。"
    result = review.assess(MESSAGE, reply)
    assert any(f.code == "passing" for f in result.findings)  # still shown to the dispatcher
    assert result.passing < 0.5


def test_the_answer_to_another_place_is_less_relevant_and_says_so():
    own, other = review.assess(MESSAGE, COMPLETE), review.assess(MESSAGE, ELSEWHERE)
    assert own.relevance > other.relevance + 0.2
    found = _findings(other)
    assert "芙蓉区" in found["other_place"].message or "桂花苑小区" in found["other_place"].message
    assert "missing_place" in found


def test_the_policy_basis_field_counts_and_a_late_reply_is_named(db):  # the working calendar is in the database
    due = timezone.make_aware(dt.datetime(2026, 3, 2, 18, 0))  # a Monday
    late = timezone.make_aware(dt.datetime(2026, 3, 5, 9, 0))  # Thursday: 3 working days later
    result = review.assess(MESSAGE, "经查，工地已停止夜间施工。", basis="《长沙市环境噪声污染防治条例》", due=due, at=late)
    assert result.elements["basis"] is not None and result.timely is False
    assert _findings(result)["late"].message == "超过办结时限 3 个工作日" and result.flagged
    assert review.assess(MESSAGE, "经查，工地已停止夜间施工。", due=due, at=due - dt.timedelta(hours=1)).timely is True


def test_more_substance_never_lowers_completeness():
    first = review.first_sentence(COMPLETE)
    assert first == "网友您好！"
    assert review.assess(MESSAGE, COMPLETE).completeness > review.assess(MESSAGE, first).completeness


def test_the_shipped_relevance_weights_are_what_the_fit_command_gives(capsys):
    call_command("evaluate_reply_review", "--fit")
    out = capsys.readouterr().out
    assert f"RELEVANCE_WEIGHTS = {review.RELEVANCE_WEIGHTS!r}" in out and f"RELEVANCE_BIAS = {review.RELEVANCE_BIAS!r}" in out
    assert "review.py holds other weights" not in out


def test_on_held_out_pairs_the_true_reply_wins_and_the_whole_is_more_complete():
    """The bar of the issue, on pairs written apart from the ones the weights were fitted on."""
    pairs = review.load_pairs(HELD_OUT)
    assert len(pairs) >= 100
    figures = review.evaluate(pairs)
    assert figures["relevance_auc"] >= 0.95, figures
    assert figures["completeness_whole_wins"] >= 0.90, figures


# --- stored with the reply, settled by the dispatcher ------------------------------------------
def test_a_reply_is_reviewed_when_sent_and_the_review_follows_the_dispatchers_decision(ticket_in, cast, departments):
    ticket = ticket_in("accepted")
    ticket = actions.reply_ticket(ticket, founded=True, solved=True, text=PASSING, by=cast["dept_own"])
    stored = ReplyReview.objects.get(ticket=ticket)
    assert stored.department == departments["city_mgmt"] and stored.outcome == ReplyReview.Outcome.PENDING
    assert stored.flagged and stored.passing >= 0.5 and stored.version == review.VERSION
    assert {f["code"] for f in stored.result["findings"]} >= {"passing", "missing_result"}
    event = TicketEvent.objects.get(ticket=ticket, kind="ticket.replied")
    assert event.data["review"] == {"relevance": round(stored.relevance, 3), "completeness": round(stored.completeness, 3), "flagged": True, "version": review.VERSION}

    actions.reject_reply(ticket, reason="请说明处理结果", by=cast["dispatcher"])
    stored.refresh_from_db()
    assert stored.outcome == ReplyReview.Outcome.REJECTED and stored.decided_at is not None

    ticket = actions.reply_ticket(ticket, founded=True, solved=True, text="经现场核实，东华街道路灯线路老化，已于3月2日更换，目前照明恢复正常。", by=cast["dept_own"])
    actions.approve_reply(ticket, by=cast["dispatcher"])
    assert list(ReplyReview.objects.filter(ticket=ticket).order_by("replied_at").values_list("outcome", flat=True)) == ["rejected", "approved"]


def test_a_failing_assessment_never_blocks_the_reply(ticket_in, cast, monkeypatch, caplog):
    ticket = ticket_in("accepted")

    def broken(*args, **kwargs):
        raise RuntimeError("segmenter crashed")

    monkeypatch.setattr(review, "assess_ticket", broken)
    with caplog.at_level(logging.ERROR, logger="routing.reviews"):
        ticket = actions.reply_ticket(ticket, founded=True, solved=True, text="已修复路灯", by=cast["dept_own"])
    assert ticket.state == "replied" and not ReplyReview.objects.filter(ticket=ticket).exists()
    assert "sent without a review" in caplog.text
    assert "review" not in TicketEvent.objects.get(ticket=ticket, kind="ticket.replied").data


# --- the API -----------------------------------------------------------------------------------
def test_assess_api_for_a_message_and_for_an_own_ticket(api, ticket_in):
    response = api("dispatcher").post("/api/v1/replies/assess/", {"message": MESSAGE, "reply": PASSING}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"relevance", "completeness", "findings", "elements", "flagged", "passing", "boilerplate", "timely", "version"}
    assert 0 <= body["relevance"] <= 1 and 0 <= body["completeness"] <= 1 and body["flagged"] is True
    assert {"code", "message", "severity", "spans"} <= set(body["findings"][0])
    assert [e["key"] for e in body["elements"]] == ["finding", "action", "result", "basis", "contact", "date"]

    ticket = ticket_in("accepted")
    own = api("dept_own").post("/api/v1/replies/assess/", {"ticket": ticket.number, "reply": "经现场核实，东华街道路灯线路老化，已更换。"}, format="json")
    assert own.status_code == 200, own.content
    assert own.json()["timely"] is True  # against the ticket's handling deadline
    assert not ReplyReview.objects.exists()  # a draft is not stored


def test_a_department_assesses_only_its_own_tickets(api, ticket_in):
    ticket = ticket_in("accepted")
    other = api("dept_other").post("/api/v1/replies/assess/", {"ticket": ticket.number, "reply": "已处理"}, format="json")
    missing = api("dept_other").post("/api/v1/replies/assess/", {"ticket": "20990101-9999", "reply": "已处理"}, format="json")
    assert other.status_code == missing.status_code == 404  # the same answer: no hint that it exists
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    draft = api("dept_own").post("/api/v1/replies/assess/", {"message": MESSAGE, "reply": "已处理"}, format="json")
    assert draft.status_code == 200 and draft.json()["timely"] is None  # its own text: nothing of anyone else's to see


@pytest.mark.parametrize(
    "who,body,status",
    [
        ("agent", {"message": MESSAGE, "reply": "已处理"}, 403),
        ("dispatcher", {"message": MESSAGE}, 400),
        ("dispatcher", {"reply": "已处理"}, 400),
        ("dispatcher", {"message": "  ", "reply": "已处理"}, 400),
        ("dispatcher", {"message": MESSAGE, "reply": ""}, 400),
        ("dispatcher", {"message": MESSAGE, "reply": "x" * 8001}, 400),
        ("dispatcher", {"message": MESSAGE, "reply": "已处\x00理"}, 400),
        ("dispatcher", {"message": MESSAGE, "reply": ["已处理"]}, 400),
        ("dispatcher", {"message": MESSAGE, "reply": "已处理", "ticket": "x" * 40}, 400),
    ],
)
def test_assess_api_rejects_bad_input_with_a_message(api, who, body, status):
    response = api(who).post("/api/v1/replies/assess/", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["message"]


def test_assess_api_needs_a_sign_in_and_a_json_object(api, client):
    assert client.post("/api/v1/replies/assess/", {"message": MESSAGE, "reply": "已处理"}, content_type="application/json").status_code == 401
    response = api("dispatcher").post("/api/v1/replies/assess/", [1, 2], format="json")
    assert response.status_code == 400 and response.json()["error"]["message"]


def test_reply_quality_per_department(api, ticket_in, cast):
    ticket = ticket_in("accepted")
    ticket = actions.reply_ticket(ticket, founded=True, solved=True, text=PASSING, by=cast["dept_own"])
    actions.reject_reply(ticket, reason="推诿", by=cast["dispatcher"])
    response = api("supervisor").get("/api/v1/kpis/replies/")
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    assert row["department"] == {"code": "chengguan", "name": "市城市管理局"}
    assert (row["replies"], row["flagged"], row["flagged_share"], row["passing"], row["rejected"], row["rejected_share"]) == (1, 1, 1.0, 1, 1, 1.0)
    past = api("supervisor").get("/api/v1/kpis/replies/?from=2020-01-01&to=2020-01-31")
    assert past.status_code == 200 and past.json()["results"] == []
    for query in ("from=9999-12-31", "from=2026-13-01", "from=2026-02-01&to=2026-01-01", "to=%00"):
        bad = api("supervisor").get(f"/api/v1/kpis/replies/?{query}")
        assert bad.status_code == 400, (query, bad.content)
    assert api("dept_own").get("/api/v1/kpis/replies/").status_code == 403


# --- the pages ---------------------------------------------------------------------------------
def test_the_dispatcher_sees_the_review_with_the_missing_parts_and_marked_phrases(ticket_in, cast, client):
    ticket = actions.reply_ticket(ticket_in("accepted"), founded=True, solved=False, text=PASSING, by=cast["dept_own"])
    client.force_login(cast["dispatcher"])
    html = client.get("/dispatch/").content.decode()
    assert 'class="reply-review" data-flagged="true"' in html
    assert '<li class="missing" data-element="result"' in html and '<li class="found"' not in html.split('data-element="result"')[0][-200:]
    assert '<mark class="review-passing">' in html and "疑似推诿" in html
    page = client.get(f"/tickets/{ticket.number}/").content.decode()
    assert 'class="reply-review"' in page and "疑似推诿" in page


def test_the_department_gets_the_live_check_and_the_supervisor_the_figures(ticket_in, cast, client):
    ticket = ticket_in("accepted")
    client.force_login(cast["dept_own"])
    html = client.get("/department/").content.decode()
    assert f'class="reply-check" data-assess="/api/v1/replies/assess/" data-ticket="{ticket.number}"' in html
    actions.reply_ticket(ticket, founded=True, solved=True, text=COMPLETE, by=cast["dept_own"])
    client.force_login(cast["supervisor"])
    page = client.get("/supervisor/").content.decode()
    assert 'id="reply-quality"' in page and 'data-department="chengguan"' in page
