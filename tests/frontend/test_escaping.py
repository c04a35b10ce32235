"""A description with markup is shown as text on every page that shows it: no dialog, the literal text visible."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.browser

PAYLOAD = "路面塌陷 <script>alert(1)</script> <img src=x onerror=alert(1)> 请处理"
PHONE = "13722223333"


def api(server, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(server.url + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def token_for(server, username: str) -> str:
    return api(server, "POST", "/api/v1/auth/token/", {"username": username, "password": "demo-12345"})["token"]


def assert_shown_as_text(page, pages) -> None:
    page.wait_for_timeout(300)  # an injected handler would fire on load
    assert page.get_by_text("<script>alert(1)</script>", exact=False).count() >= 1
    assert page.get_by_text("<img src=x onerror=alert(1)>", exact=False).count() >= 1
    assert page.locator("img[src='x']").count() == 0
    assert not pages.dialogs, pages.dialogs


def test_markup_in_a_description_is_text_everywhere(pages, hotline_server):
    # given: a ticket registered with markup in its title-less description
    agent_token = token_for(hotline_server, "agent")
    ticket = api(
        hotline_server, "POST", "/api/v1/tickets/",
        {"channel": "phone", "type": "complaint", "description": PAYLOAD, "address": "<b>幸福路</b>", "citizen": {"name": "<i>钱</i>", "phone": PHONE}},
        agent_token,
    )  # fmt: skip
    number = ticket["number"]

    # then: the dispatcher's queue and the ticket page show it as text
    dispatcher = pages.open("dispatcher")
    dispatcher.goto(hotline_server.url + "/dispatch/")
    assert_shown_as_text(dispatcher, pages)
    dispatcher.goto(hotline_server.url + f"/tickets/{number}/")
    assert_shown_as_text(dispatcher, pages)
    assert dispatcher.get_by_text("<b>幸福路</b>").count() >= 1

    # and, once dispatched, the department's queue too
    api(hotline_server, "POST", f"/api/v1/tickets/{number}/dispatch/", {"department": "zhujian"}, token_for(hotline_server, "dispatcher"))
    department = pages.open("zhujian")
    department.goto(hotline_server.url + "/department/")
    department.locator(f"article[data-number='{number}']").wait_for()
    assert_shown_as_text(department, pages)

    # and the supervisor's wallboard (the title is made from the description)
    supervisor = pages.open("supervisor")
    supervisor.goto(hotline_server.url + "/supervisor/wall/")
    assert supervisor.get_by_text("<script>alert(1)", exact=False).count() >= 1
    assert not pages.dialogs

    # and the agent's console, where the description is typed: suggestions render as text
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.fill("#reg-description", PAYLOAD)
    agent.wait_for_selector("#suggestions[data-state]")
    agent.wait_for_timeout(500)
    assert agent.locator("#suggestions img").count() == 0

    # and the citizen's tracking page
    citizen = pages.open(phone=True)
    citizen.goto(hotline_server.url + f"/track/?number={number}")
    citizen.fill("#id_phone", PHONE)
    citizen.click("#track-form button[type=submit]")
    citizen.locator("#ticket-view").wait_for()
    assert_shown_as_text(citizen, pages)
    assert not pages.errors
