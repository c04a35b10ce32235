"""The knowledge API: search, suggest, ticket search, one article; errors in the API's one shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/knowledge/search/"
SUGGEST = "/api/v1/knowledge/suggest/"
TICKETS = "/api/v1/knowledge/tickets/"


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


# --- search ------------------------------------------------------------------------------------
def test_search_answers_the_contract_shape(search_backend, api, publish, categories, departments):
    publish(title="城乡居民医疗保险门诊报销指南", body="门诊费用按比例报销。", valid_until=None)
    response = api("agent").get(SEARCH, {"q": "医保报销"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    hit = body["results"][0]
    assert {"id", "title", "highlight", "category", "department", "valid_until", "score"} <= set(hit)
    assert hit["title"] == "城乡居民医疗保险门诊报销指南"
    assert hit["category"] == "医疗保险" and hit["department"] == "市医疗保障局"
    assert hit["valid_until"] is None and hit["stale"] is False
    assert "<em>" in hit["highlight"]


def test_search_filters_and_pages(search_backend, api, publish, categories, departments):
    for i in range(12):
        publish(index=False, title=f"医保问答{i:02d}", category="medical")
    publish(author="chengguan", category="lamps", title="路灯报修")
    from routing import outbox

    from knowledge import search

    outbox.drain()
    search.refresh()
    client = api("dispatcher")
    first = client.get(SEARCH, {"q": "医保", "page_size": 5}).json()
    third = client.get(SEARCH, {"q": "医保", "page_size": 5, "page": 3}).json()
    assert first["count"] == 12 and len(first["results"]) == 5 and first["next_cursor"]
    assert len(third["results"]) == 2 and third["next_cursor"] is None
    after = client.get(SEARCH, {"q": "医保", "page_size": 5, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in after["results"]] == [r["id"] for r in client.get(SEARCH, {"q": "医保", "page_size": 5, "page": 2}).json()["results"]]
    lamps = client.get(SEARCH, {"category": categories["city"].pk}).json()
    assert [r["title"] for r in lamps["results"]] == ["路灯报修"]
    by_department = client.get(SEARCH, {"department": departments["chengguan"].pk}).json()
    assert [r["title"] for r in by_department["results"]] == ["路灯报修"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"category": "999999"}, "category"),
        ({"department": "abc"}, "department"),
        ({"q": "长" * 501}, "q"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_search_parameters_are_400s(api, params, field):
    response = api("agent").get(SEARCH, params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and field in error["details"]


def test_search_needs_a_staff_login(api):
    assert APIClient().get(SEARCH, {"q": "医保"}).status_code in {401, 403}
    response = api("nobody").get(SEARCH, {"q": "医保"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


# --- suggest ------------------------------------------------------------------------------------
def test_suggest_returns_articles_and_similar_resolved_tickets(search_backend, api, publish, resolved_ticket, new_ticket, deliver):
    publish(author="chengguan", category="lamps", title="路灯不亮报修", body="路灯损坏由城管部门 3 日内修复。")
    done = resolved_ticket(description="幸福里门口路灯不亮", reply="已修复。")
    new_ticket(description="幸福里门口路灯不亮，还没人管")
    deliver()
    response = api("agent").post(SUGGEST, {"text": "我家门口路灯不亮了"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [a["title"] for a in body["articles"]] == ["路灯不亮报修"]
    assert [t["number"] for t in body["similar_tickets"]] == [done.number]
    assert body["similar_tickets"][0]["answer"] == "已修复。"
    assert "caller_tickets" not in body


def test_suggest_with_the_callers_phone_lists_their_earlier_tickets(search_backend, api, new_ticket, deliver):
    earlier = new_ticket(description="上周反映过噪音", citizen_phone="13712345678")
    new_ticket(description="别人的工单", citizen_phone="13800000000")
    deliver()
    body = api("agent").post(SUGGEST, {"text": "噪音", "phone": "+86 137 1234 5678"}, format="json").json()
    assert [t["number"] for t in body["caller_tickets"]] == [earlier.number]
    # the ticket being written is left out
    body = api("agent").post(SUGGEST, {"text": "噪音", "phone": "13712345678", "ticket": earlier.number}, format="json").json()
    assert body["caller_tickets"] == []


def test_department_staff_see_only_their_departments_similar_tickets(search_backend, api, resolved_ticket, deliver):
    own = resolved_ticket(department="chengguan", description="路灯坏了")
    assisted = resolved_ticket(department="yibao", assisting=("chengguan",), description="路灯杆倒了")
    resolved_ticket(department="yibao", description="路灯闪")
    deliver()
    body = api("chengguan").post(SUGGEST, {"text": "路灯"}, format="json").json()
    assert {t["number"] for t in body["similar_tickets"]} == {own.number, assisted.number}
    assert len(api("agent").post(SUGGEST, {"text": "路灯"}, format="json").json()["similar_tickets"]) == 3


def test_suggest_input_errors(api):
    client = api("agent")
    response = client.post(SUGGEST, {}, format="json")
    assert response.status_code == 400 and "text" in error_of(response)["details"]
    response = client.post(SUGGEST, {"text": "长" * 3000}, format="json")
    assert response.status_code == 400
    assert client.post(SUGGEST, {"text": ""}, format="json").json() == {"articles": [], "similar_tickets": []}
    assert api("nobody").post(SUGGEST, {"text": "医保"}, format="json").status_code == 403
    assert APIClient().post(SUGGEST, {"text": "医保"}, format="json").status_code in {401, 403}


# --- tickets ------------------------------------------------------------------------------------
def test_ticket_search_by_phone_number_and_words(search_backend, api, new_ticket, deliver):
    ticket = new_ticket(description="小区路灯不亮", citizen_phone="13912345678")
    deliver()
    client = api("agent")
    assert [r["number"] for r in client.get(TICKETS, {"phone": "139-1234-5678"}).json()["results"]] == [ticket.number]
    assert [r["number"] for r in client.get(TICKETS, {"number": ticket.number}).json()["results"]] == [ticket.number]
    result = client.get(TICKETS, {"q": "路灯"}).json()["results"][0]
    assert result["number"] == ticket.number
    assert "13912345678" not in str(result) and "张女士" not in str(result)
    assert client.get(TICKETS, {"number": "12345"}).status_code == 400
    assert client.get(TICKETS, {}).status_code == 400


def test_department_staff_ticket_search_is_limited(search_backend, api, new_ticket, resolved_ticket, deliver):
    mine = resolved_ticket(department="chengguan", description="路灯坏了", citizen_phone="13600000001")
    resolved_ticket(department="yibao", description="路灯坏了", citizen_phone="13600000001")
    deliver()
    numbers = [r["number"] for r in api("chengguan").get(TICKETS, {"q": "路灯"}).json()["results"]]
    assert numbers == [mine.number]


def test_department_staff_may_not_look_up_tickets_by_phone(search_backend, api, resolved_ticket, deliver):
    resolved_ticket(department="chengguan", description="路灯坏了", citizen_phone="13600000001")
    deliver()
    client = api("chengguan")
    response = client.get(TICKETS, {"phone": "13600000001"})
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden_role"
    response = client.post(SUGGEST, {"text": "路灯", "phone": "13600000001"}, format="json")
    assert response.status_code == 403 and "13600000001" not in response.content.decode()
    assert client.post(SUGGEST, {"text": "路灯"}, format="json").status_code == 200


# --- one article ------------------------------------------------------------------------------
def test_article_detail_shows_the_live_version(api, publish, cast, categories):
    from knowledge import actions
    from knowledge.actions import ArticleContent

    article = publish(title="门诊报销", body="比例 **50%**", keywords="医保 门诊", index=False)
    actions.update_article(article, content=ArticleContent(title="门诊报销（修订中）", body="比例 60%", category=categories["medical"]), by=cast["yibao"])
    body = api("agent").get(f"/api/v1/knowledge/articles/{article.pk}/").json()
    assert body["title"] == "门诊报销" and body["version"] == 1
    assert "<strong>50%</strong>" in body["body_html"]
    assert body["keywords"] == ["医保", "门诊"]
    assert body["category"] == "劳动和社会保障 › 社会保险 › 医疗保险"


def test_a_draft_is_not_served(api, write_article):
    draft = write_article("yibao")
    response = api("agent").get(f"/api/v1/knowledge/articles/{draft.pk}/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- a down search backend ------------------------------------------------------------------------
def test_search_is_503_with_a_clear_message_when_elasticsearch_is_down(elasticsearch_backend, api, settings):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    for response in (
        api("agent").get(SEARCH, {"q": "医保"}),
        api("agent").post(SUGGEST, {"text": "医保"}, format="json"),
        api("agent").get(TICKETS, {"q": "路灯"}),
    ):
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "search_unavailable"
        assert "暂时不可用" in error["message"]
        assert error["details"] == {"backend": "elasticsearch"}


def test_search_is_503_when_the_embedded_file_cannot_be_opened(api, settings, tmp_path):
    settings.EMBEDDED_SEARCH_PATH = tmp_path / "missing-dir" / "search.sqlite3"
    response = api("agent").get(SEARCH, {"q": "医保"})
    assert response.status_code == 503 and error_of(response)["code"] == "search_unavailable"
