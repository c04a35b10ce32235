"""The ticket list's ``q`` (``GET /api/v1/tickets/?q=``, its export): one ticket search, through the engine.

Each test runs on Elasticsearch and on the embedded FTS5 index (``search_backend``). The list asks the
engine (``routing.textsearch`` → ``knowledge.suggestions.list_matches``) for the ids of the newest matches
the user may see; the database applies the list's other filters to them.
"""

from __future__ import annotations

import pytest

from hotline.pagination import SearchedPages
from knowledge import search
from routing import actions as ticket_actions
from routing import selectors, textsearch
from routing.models import Ticket

pytestmark = pytest.mark.django_db


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


@pytest.fixture
def tickets(new_ticket, deliver):
    made = {
        "lamp": new_ticket(description="东华街道路灯不亮已经一周了，晚上很黑", address="示范市东城区东华街道幸福里 3 号", citizen_phone="13800138000"),
        "lamp_pole": new_ticket(description="幸福里门口路灯杆倾斜，怕砸到人", address="示范市东城区幸福里 9 号", citizen_phone="13700137000"),
        "noise": new_ticket(description="楼下烧烤摊每天夜里很吵闹", address="示范市西城区月坛街道 8 号", citizen_phone="13900139000"),
    }
    deliver()
    return made


def test_words_must_all_be_there_and_synonyms_count(search_backend, tickets, api):
    client = api("dispatcher")
    assert set(_numbers(client.get("/api/v1/tickets/", {"q": "路灯"}))) == {tickets["lamp"].number, tickets["lamp_pole"].number}
    # A list narrows: both words (not either) must be in the ticket.
    assert _numbers(client.get("/api/v1/tickets/", {"q": "路灯 倾斜"})) == [tickets["lamp_pole"].number]
    # 噪音 is a synonym of 吵闹 in the hotline's vocabulary, as for the knowledge search.
    assert _numbers(client.get("/api/v1/tickets/", {"q": "烧烤摊 噪音"})) == [tickets["noise"].number]
    # The address counts as the text does.
    assert _numbers(client.get("/api/v1/tickets/", {"q": "月坛"})) == [tickets["noise"].number]
    assert _numbers(client.get("/api/v1/tickets/", {"q": "公积金"})) == []


def test_a_number_exactly_and_by_its_beginning(search_backend, tickets, api):
    client = api("agent")
    lamp = tickets["lamp"].number
    assert _numbers(client.get("/api/v1/tickets/", {"q": lamp})) == [lamp]
    day = lamp.split("-")[0]
    # Newest first, like the list without words.
    assert _numbers(client.get("/api/v1/tickets/", {"q": f"{day}-"})) == [t.number for t in reversed(tickets.values())]
    assert _numbers(client.get("/api/v1/tickets/", {"q": f"{day}-99"})) == []


def test_a_callers_phone_finds_their_tickets_for_the_hotline_only(search_backend, tickets, api, departments, cast):
    for name in ("agent", "dispatcher", "supervisor"):
        assert _numbers(api(name).get("/api/v1/tickets/", {"q": "138 0013 8000"})) == [tickets["lamp"].number], name
    # Department staff who see the ticket still cannot find it by the phone (the digits are words to them,
    # and the index holds only the phone's digest): no guessing of masked digits.
    ticket_actions.dispatch_ticket(tickets["lamp"], department=departments["chengguan"], by=cast["dispatcher"])
    search.index_ticket(tickets["lamp"].pk)
    search.refresh()
    staff = api("chengguan")
    assert _numbers(staff.get("/api/v1/tickets/", {"q": "路灯"})) == [tickets["lamp"].number]
    assert _numbers(staff.get("/api/v1/tickets/", {"q": "13800138000"})) == []


def test_department_staff_find_only_their_departments_tickets(search_backend, tickets, api, departments, cast):
    ticket_actions.dispatch_ticket(tickets["lamp_pole"], department=departments["chengguan"], by=cast["dispatcher"])
    ticket_actions.dispatch_ticket(tickets["lamp"], department=departments["yibao"], assisting=[departments["chengguan"]], by=cast["dispatcher"])
    for ticket in tickets.values():
        search.index_ticket(ticket.pk)
    search.refresh()
    assert set(_numbers(api("chengguan").get("/api/v1/tickets/", {"q": "路灯"}))) == {tickets["lamp"].number, tickets["lamp_pole"].number}
    assert _numbers(api("yibao").get("/api/v1/tickets/", {"q": "路灯"})) == [tickets["lamp"].number]
    assert _numbers(api("gongjijin").get("/api/v1/tickets/", {"q": "路灯"})) == []


def test_words_combine_with_the_lists_other_filters(search_backend, tickets, api, departments, cast, categories, deliver):
    ticket_actions.dispatch_ticket(tickets["lamp_pole"], department=departments["chengguan"], by=cast["dispatcher"])
    deliver()
    client = api("dispatcher")
    assert _numbers(client.get("/api/v1/tickets/", {"q": "路灯", "state": "dispatched"})) == [tickets["lamp_pole"].number]
    assert _numbers(client.get("/api/v1/tickets/", {"q": "路灯", "state": "registered"})) == [tickets["lamp"].number]
    assert _numbers(client.get("/api/v1/tickets/", {"q": "路灯", "department": "chengguan"})) == [tickets["lamp_pole"].number]
    assert len(_numbers(client.get("/api/v1/tickets/", {"q": "路灯", "category": categories["city"].pk}))) == 2
    assert _numbers(client.get("/api/v1/tickets/", {"q": "路灯", "category": categories["social"].pk})) == []


def test_the_database_has_the_last_word_on_a_ticket_the_index_has_not_caught_up_with(search_backend, tickets, api, departments, cast):
    # Dispatched, but the index update is still in the outbox: the index says "registered".
    ticket_actions.dispatch_ticket(tickets["lamp"], department=departments["chengguan"], by=cast["dispatcher"])
    client = api("dispatcher")
    assert _numbers(client.get("/api/v1/tickets/", {"q": "东华街道", "state": "registered"})) == []
    # A ticket not yet indexed at all is not found by words: the list does not match text in SQL.
    fresh = Ticket.objects.get(pk=tickets["noise"].pk)
    assert fresh.number not in _numbers(client.get("/api/v1/tickets/", {"q": "东华街道", "state": "dispatched"}))


def test_more_matches_than_the_list_holds_are_said_so(search_backend, new_ticket, deliver, cast, api):
    made = [new_ticket(description=f"第{n}次反映路灯不亮") for n in range(5)]
    deliver()
    # With a filter only the database has, the engine's newest matches (search_limit) are intersected there.
    capped = selectors.filtered_list(cast["dispatcher"], {"q": "路灯", "external_id": ""}, search_limit=3, paged_by_engine=False)
    assert [t.number for t in capped[0:10]] == [t.number for t in reversed(made)][:3]
    assert capped.count() == 3 and capped.search_exact is False
    whole = selectors.filtered_list(cast["dispatcher"], {"q": "路灯"}, search_limit=5, paged_by_engine=False)
    assert whole.count() == 5 and whole.search_exact is True
    body = api("dispatcher").get("/api/v1/tickets/", {"q": "路灯"}).json()
    assert body["count"] == 5 and body["count_exact"] is True
    assert api("dispatcher").get("/api/v1/tickets/").json()["count_exact"] is True


def test_words_alone_are_paged_in_the_engine(search_backend, new_ticket, deliver, cast, api, monkeypatch):
    made = [new_ticket(description=f"第{n}次反映路灯不亮") for n in range(5)]
    deliver()
    newest_first = [t.number for t in reversed(made)]
    listed = selectors.filtered_list(cast["dispatcher"], {"q": "路灯", "state": "registered"})
    assert isinstance(listed, selectors.SearchedList)
    assert listed.count() == 5 and listed.search_exact
    assert [t.number for t in listed[1:3]] == newest_first[1:3]
    client = api("dispatcher")
    monkeypatch.setattr(SearchedPages, "page_size", 2)
    pages = [client.get("/api/v1/tickets/", {"q": "路灯", "page": n}).json() for n in (1, 2, 3)]
    assert [row["number"] for page in pages for row in page["results"]] == newest_first
    assert pages[0]["count"] == 5 and pages[0]["next"] and pages[2]["next"] is None
    # A filter only the database has: intersected there instead, with the same answer.
    assert not isinstance(selectors.filtered_list(cast["dispatcher"], {"q": "路灯", "overdue": "true"}), selectors.SearchedList)
    # More matches than the engine counts: the pages end there, and the answer says so.
    monkeypatch.setattr(textsearch, "COUNT_LIMIT", 3)
    body = client.get("/api/v1/tickets/", {"q": "路灯"}).json()
    assert body["count"] == 3 and body["count_exact"] is False
    assert [row["number"] for row in body["results"]] == newest_first[:2]


def test_the_export_searches_the_same_way(search_backend, tickets, api):
    response = api("dispatcher").get("/api/v1/tickets/export/", {"q": "路灯 倾斜", "format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert tickets["lamp_pole"].number in text
    assert tickets["lamp"].number not in text and tickets["noise"].number not in text


def test_search_down_is_a_503_and_the_list_without_words_still_answers(elasticsearch_backend, tickets, api, settings):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"  # nothing listens there
    client = api("dispatcher")
    response = client.get("/api/v1/tickets/", {"q": "路灯"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "search_unavailable"
    assert len(_numbers(client.get("/api/v1/tickets/"))) == 3


def test_the_finder_is_the_knowledge_rooms():
    from knowledge import suggestions

    assert textsearch._finder is suggestions.list_matches
