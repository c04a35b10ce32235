"""进度查询: the public timeline by number + phone, rating, withdrawal, and guessing limits."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from routing.models import Ticket, TicketEvent
from routing.states import State

from .conftest import CITIZEN_PHONE, OTHER_PHONE

API = "/api/v1/public/track/"


@pytest.fixture
def client(db):
    return Client()


def lookup(client: Client, number: str, phone: str, **extra):
    return client.post(reverse("public-track"), {"action": "lookup", "number": number, "phone": phone}, **extra)


def access_of(response) -> str:
    return re.search(r'name="access" value="([^"]+)"', response.content.decode()).group(1)


# --- the API ---------------------------------------------------------------------------
def test_api_shows_the_public_timeline_only(client, new_ticket, walk, cast):
    # given a ticket that went through dispatch, an internal note and a reply under review
    ticket = walk(new_ticket(), "replied")
    assert TicketEvent.objects.filter(ticket=ticket, public=False).exists()
    # when
    response = client.get(API, {"number": ticket.number, "phone": CITIZEN_PHONE})
    # then
    assert response.status_code == 200
    body = response.json()
    kinds = [step["kind"] for step in body["timeline"]]
    assert kinds == ["ticket.registered", "ticket.dispatched", "ticket.accepted"]
    assert body["timeline"][1]["department"] == "市城市管理局"
    assert body["timeline"][1]["label"] == "已派至市城市管理局办理"
    assert body["timeline"][0]["label"] == "已受理"
    assert body["reply"] is None  # the reply is not approved yet
    assert body["can_rate"] is False and body["can_withdraw"] is False
    text = response.content.decode()
    for secret in ("内部备注", "王科长", "pub-chengguan", "pub-xiaowang", "小王", "老李", CITIZEN_PHONE, "张女士", "路灯已于今日修复"):
        assert secret not in text


def test_api_shows_the_approved_reply_and_offers_the_rating(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    body = client.get(API, {"number": ticket.number, "phone": "+86 138 0013 8000"}).json()
    assert body["reply"] == {"label": "答复内容", "text": "路灯已于今日修复。"}
    assert body["can_rate"] is True
    assert body["timeline"][-1]["kind"] == "ticket.reply_approved"


def test_a_wrong_phone_and_a_wrong_number_get_the_same_answer(client, new_ticket):
    ticket = new_ticket()
    new_ticket(citizen_phone=OTHER_PHONE)
    wrong_phone = client.get(API, {"number": ticket.number, "phone": OTHER_PHONE})
    wrong_number = client.get(API, {"number": "20990101-000001", "phone": CITIZEN_PHONE})
    assert wrong_phone.status_code == wrong_number.status_code == 404
    assert wrong_phone.json() == wrong_number.json()
    assert wrong_phone.json()["error"]["code"] == "not_found"


def test_an_anonymous_confidential_ticket_is_tracked_like_any_other(client, new_ticket):
    ticket = new_ticket(anonymous=True, confidential=True, citizen_name="")
    assert client.get(API, {"number": ticket.number, "phone": CITIZEN_PHONE}).status_code == 200
    assert client.get(API, {"number": ticket.number, "phone": OTHER_PHONE}).status_code == 404


def test_a_ticket_without_a_phone_cannot_be_tracked(client, new_ticket):
    ticket = new_ticket(anonymous=True, citizen_phone="", citizen_name="")
    assert client.get(API, {"number": ticket.number, "phone": CITIZEN_PHONE}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"number": "20260101-000001"}, {"phone": CITIZEN_PHONE}, {"number": "x", "phone": "12"}])
def test_api_missing_or_malformed_parameters_are_400(client, params):
    response = client.get(API, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_api_takes_only_get(client):
    assert client.post(API, {"number": "x", "phone": CITIZEN_PHONE}).status_code == 405


def test_repeated_guessing_is_rate_limited_per_address(client, new_ticket, settings):
    settings.PUBLIC_RATE_LIMITS = {"track.fail.ip": (3, 600)}
    ticket = new_ticket()
    for n in range(3):
        assert client.get(API, {"number": f"20990101-00000{n}", "phone": CITIZEN_PHONE}).status_code == 404
    # then even the right answer waits: the guesser learns nothing more
    limited = client.get(API, {"number": ticket.number, "phone": CITIZEN_PHONE})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited["Retry-After"]) > 0
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    assert page.status_code == 429
    # another address is not affected
    assert client.get(API, {"number": ticket.number, "phone": CITIZEN_PHONE}, REMOTE_ADDR="10.1.1.1").status_code == 200


# --- the page ---------------------------------------------------------------------------
def test_page_prefills_the_number_from_a_link(client):
    response = client.get(reverse("public-track"), {"number": "20260101-000042"})
    assert response.status_code == 200
    assert 'value="20260101-000042"' in response.content.decode()


def test_page_shows_the_timeline_after_a_lookup(client, new_ticket, walk):
    ticket = walk(new_ticket(), "accepted")
    response = lookup(client, ticket.number, CITIZEN_PHONE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "已派至市城市管理局办理" in html and "承办单位已签收" in html
    assert "内部备注" not in html and "王科长" not in html
    assert 'id="withdraw-form"' in html and 'id="rating-form"' not in html


def test_page_not_found_is_the_same_for_number_and_phone(client, new_ticket):
    ticket = new_ticket()
    a = lookup(client, ticket.number, OTHER_PHONE)
    b = lookup(client, "20990101-000009", CITIZEN_PHONE)
    assert a.status_code == b.status_code == 404
    # the pages differ only in what was typed into the inputs (and the CSRF tokens)
    typed = re.compile(r'(value|content)="[^"]*"')
    assert typed.sub("", a.content.decode()) == typed.sub("", b.content.decode())
    assert "未找到该工单" in a.content.decode()


def test_citizen_rates_satisfied_and_the_ticket_closes(client, new_ticket, walk):
    # given
    ticket = walk(new_ticket(), "reply_approved")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    assert 'id="rating-form"' in page.content.decode()
    # when
    response = client.post(reverse("public-track"), {"action": "rate", "access": access_of(page), "solved": "yes", "satisfaction": "satisfied"})
    # then
    assert response.status_code == 200
    assert "感谢您的评价" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == State.CLOSED and ticket.satisfaction == "satisfied" and ticket.callback_solved is True
    callback = TicketEvent.objects.get(ticket=ticket, kind="ticket.callback")
    assert callback.actor_role == "citizen" and callback.actor is None


def test_citizen_rates_unsatisfied_and_the_ticket_is_reopened_with_their_reason(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    response = client.post(
        reverse("public-track"), {"action": "rate", "access": access_of(page), "solved": "no", "satisfaction": "unsatisfied", "comment": "路灯还是不亮"}
    )
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.state == State.ACCEPTED and ticket.unsatisfied_count == 1
    reopened = TicketEvent.objects.get(ticket=ticket, kind="ticket.reopened")
    assert reopened.data["reason"] == "路灯还是不亮" and reopened.actor_role == "citizen"


def test_unsatisfied_without_a_comment_gets_the_default_reason(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    client.post(reverse("public-track"), {"action": "rate", "access": access_of(page), "solved": "no", "satisfaction": "unsatisfied"})
    assert TicketEvent.objects.get(ticket=ticket, kind="ticket.reopened").data["reason"] == "市民评价不满意"


def test_an_incomplete_rating_is_400_and_changes_nothing(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    response = client.post(reverse("public-track"), {"action": "rate", "access": access_of(page), "solved": "yes", "satisfaction": "delighted"})
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.state == State.REPLY_APPROVED


def test_rating_twice_is_a_409(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    access = access_of(lookup(client, ticket.number, CITIZEN_PHONE))
    client.post(reverse("public-track"), {"action": "rate", "access": access, "solved": "yes", "satisfaction": "satisfied"})
    again = client.post(reverse("public-track"), {"action": "rate", "access": access, "solved": "no", "satisfaction": "unsatisfied"})
    assert again.status_code == 409
    ticket.refresh_from_db()
    assert ticket.state == State.CLOSED


def test_citizen_withdraws_before_the_reply(client, new_ticket, walk):
    ticket = walk(new_ticket(), "dispatched")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    response = client.post(reverse("public-track"), {"action": "withdraw", "access": access_of(page), "reason": "已自行解决"})
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.state == State.WITHDRAWN
    event = TicketEvent.objects.get(ticket=ticket, kind="ticket.withdrawn")
    assert event.actor_role == "citizen" and event.data["reason"] == "已自行解决" and event.public is True
    assert "已撤单" in response.content.decode()


def test_no_withdrawal_after_the_reply(client, new_ticket, walk):
    ticket = walk(new_ticket(), "reply_approved")
    page = lookup(client, ticket.number, CITIZEN_PHONE)
    assert 'id="withdraw-form"' not in page.content.decode()
    response = client.post(reverse("public-track"), {"action": "withdraw", "access": access_of(page)})
    assert response.status_code == 409
    ticket.refresh_from_db()
    assert ticket.state == State.REPLY_APPROVED


@pytest.mark.parametrize("access", ["", "garbage", "eyJ0Ijo1fQ:forged:sig"])
def test_actions_need_a_valid_access_token(client, new_ticket, walk, access):
    ticket = walk(new_ticket(), "reply_approved")
    response = client.post(reverse("public-track"), {"action": "rate", "access": access, "solved": "yes", "satisfaction": "satisfied"})
    assert response.status_code == 400
    assert "查询已过期" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == State.REPLY_APPROVED


def test_an_access_token_is_bound_to_its_ticket(client, new_ticket, walk):
    mine = walk(new_ticket(), "reply_approved")
    access = access_of(lookup(client, mine.number, CITIZEN_PHONE))
    response = client.post(reverse("public-track"), {"action": "withdraw", "access": access})
    assert response.status_code == 409  # it acts on its own ticket only, which is past the reply
    assert Ticket.objects.filter(state=State.WITHDRAWN).count() == 0


def test_very_long_texts_are_400_and_change_nothing(client, new_ticket, walk):
    rated = walk(new_ticket(), "reply_approved")
    access = access_of(lookup(client, rated.number, CITIZEN_PHONE))
    response = client.post(
        reverse("public-track"), {"action": "rate", "access": access, "solved": "no", "satisfaction": "unsatisfied", "comment": "差" * 501}
    )
    assert response.status_code == 400 and "意见最多 500 字" in response.content.decode()
    rated.refresh_from_db()
    assert rated.state == State.REPLY_APPROVED

    open_one = walk(new_ticket(citizen_phone=OTHER_PHONE), "dispatched")
    access = access_of(lookup(client, open_one.number, OTHER_PHONE))
    response = client.post(reverse("public-track"), {"action": "withdraw", "access": access, "reason": "撤" * 501})
    assert response.status_code == 400 and "撤单原因最多 500 字" in response.content.decode()
    open_one.refresh_from_db()
    assert open_one.state == State.DISPATCHED
    assert client.get(API, {"number": "9" * 21, "phone": CITIZEN_PHONE}).status_code == 400
