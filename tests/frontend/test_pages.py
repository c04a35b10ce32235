"""Each workspace opens for its roles only, the supervisor's pages work, and the wallboard updates live."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

pytestmark = pytest.mark.browser


def test_every_role_lands_on_its_pages_and_no_other(pages, hotline_server, shot):
    # anonymous: sent to the login page
    anonymous = pages.open()
    anonymous.goto(hotline_server.url + "/dispatch/")
    assert "/accounts/login/" in anonymous.url
    shot(anonymous, "login")

    # department staff: their workspace yes, the dispatcher's no
    staff = pages.open("zhujian")
    assert staff.locator("nav a[href='/department/']").count() == 1
    response = staff.goto(hotline_server.url + "/dispatch/")
    assert response.status == 403
    # a ticket of another department is not found (no hint that it exists)
    other = hotline_server.sql(
        "select t.number from routing_ticket t join routing_department d on d.id = t.department_id where d.code = 'chengguan' limit 1"
    )[0][0]
    assert staff.goto(hotline_server.url + f"/tickets/{other}/").status == 404
    own = hotline_server.sql("select t.number from routing_ticket t join routing_department d on d.id = t.department_id where d.code = 'zhujian' limit 1")[0][0]
    assert staff.goto(hotline_server.url + f"/tickets/{own}/").status == 200

    # the agent: the console, with the callback queue
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    assert agent.locator("#callbacks article.ticket-card").count() >= 1
    assert agent.goto(hotline_server.url + "/supervisor/").status == 403
    agent.goto(hotline_server.url + "/console/")
    agent.locator("#callbacks").scroll_into_view_if_needed()
    shot(agent, "console-callbacks")
    assert not pages.dialogs and not pages.errors


def test_agent_calls_back_a_citizen_from_the_console(pages, hotline_server):
    # given: an approved reply waiting for the callback
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    card = agent.locator("#callbacks article.ticket-card").filter(has=agent.locator("details[data-action='callback']")).first
    number = card.get_attribute("data-number")

    # when: the agent records a satisfied callback
    card.locator("details[data-action='callback'] > summary").click()
    card.locator("select[name='reached']").select_option("true")
    card.locator("select[name='solved']").select_option("true")
    card.locator("select[name='satisfaction']").select_option("satisfied")
    card.locator("details[data-action='callback'] button[type=submit]").click()

    # then: the ticket is closed and leaves the queue
    agent.locator(f"#callbacks article[data-number='{number}']").wait_for(state="detached")
    assert hotline_server.sql("select state, satisfaction from routing_ticket where number = %s", (number,)) == [("closed", "satisfied")]


def test_supervisor_dashboard_urges_and_the_wall_updates_live(pages, hotline_server, shot):
    supervisor = pages.open("supervisor")
    supervisor.goto(hotline_server.url + "/supervisor/")
    # KPI tiles and the charts drawn by Chart.js (served from node_modules, not a CDN)
    assert supervisor.locator(".tile").count() >= 6
    assert supervisor.evaluate("typeof window.Chart") == "function"
    assert supervisor.locator("#charts-note").is_hidden()
    supervisor.select_option("#chart-metric", "satisfaction")
    assert supervisor.locator(".hotspots table").count() == 4
    shot(supervisor, "supervisor")

    # the wall: a new registration raises 今日受理 without a reload
    wall = pages.open("supervisor")
    wall.goto(hotline_server.url + "/supervisor/wall/")
    wall.wait_for_selector("body[data-live='on']")
    before = int(wall.locator("#wall-today").inner_text())
    shot(wall, "supervisor-wall")
    token = _token(hotline_server, "agent")
    _post(hotline_server, "/api/v1/tickets/", {"channel": "phone", "type": "inquiry", "description": "咨询大屏实时刷新测试"}, token)
    # (a string predicate would be eval'd in the page, which the Content-Security-Policy rightly forbids)
    deadline = time.monotonic() + 20
    while int(wall.locator("#wall-today").text_content().strip() or 0) <= before:
        assert time.monotonic() < deadline, "the wallboard did not update live"
        wall.wait_for_timeout(250)
    assert not pages.dialogs and not pages.errors


def test_supervisor_urges_an_overdue_ticket(pages, hotline_server):
    # given: a running ticket whose deadline has passed
    number = hotline_server.sql("select number from routing_ticket where state = 'accepted' order by id limit 1")[0][0]
    hotline_server.sql("update routing_ticket set due_at = now() - interval '2 hours' where number = %s returning id", (number,))
    supervisor = pages.open("supervisor")
    supervisor.goto(hotline_server.url + "/supervisor/")
    card = supervisor.locator(f"#overdue article[data-number='{number}']")
    # when: the supervisor urges it with a note
    card.locator("details[data-action='urge'] > summary").click()
    card.locator("details[data-action='urge'] textarea[name='note']").fill("请今日内办结并答复")
    card.locator("details[data-action='urge'] button[type=submit]").click()
    # then: the urge is on the timeline and the card says so
    supervisor.locator(f"#overdue article[data-number='{number}']", has_text="已催办 1 次").wait_for()
    kinds = [k for (k,) in hotline_server.sql("select e.kind from routing_ticketevent e join routing_ticket t on t.id = e.ticket_id where t.number = %s", (number,))]
    assert "ticket.urged" in kinds


def _post(server, path: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(server.url + path, method="POST", data=json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def _token(server, username: str) -> str:
    request = urllib.request.Request(server.url + "/api/v1/auth/token/", method="POST", data=json.dumps({"username": username, "password": "demo-12345"}).encode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())["token"]


def test_the_pages_switch_to_english(pages, hotline_server, shot):
    # given: Chinese by default
    page = pages.open()
    page.goto(hotline_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "我要反映" in page.locator("main").inner_text()
    # when: the visitor picks English in the language switch
    page.select_option("form.lang select", "en")
    page.wait_for_load_state()
    # then: the portal and, after sign-in, the workspace speak English
    page.wait_for_selector("html[lang='en']")
    assert "Report a problem" in page.locator("main").inner_text()
    pages.login(page, "dispatcher")
    page.goto(hotline_server.url + "/dispatch/")
    assert "To dispatch" in page.locator("main").inner_text()
    shot(page, "dispatch-english")


def test_agent_registers_a_fire_and_transfers_it_to_119_from_the_console(pages, hotline_server):
    # given: the agent writes down a call about a fire
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.fill("#reg-description", "楼下餐馆厨房着火了，浓烟很大，请帮忙处理")
    # then: 119 is suggested by the words and preselected in the transfer panel
    agent.wait_for_selector("#line-suggestion:not([hidden])")
    assert "消防119" in agent.locator("#line-suggestion").inner_text()
    assert agent.input_value("#reg-line") == "119"

    # when: registered and transferred in one click
    agent.locator("#transfer-panel > summary").click()
    assert "火灾" in agent.locator("#transfer-panel .field-help").inner_text()
    agent.fill("#reg-transfer-reason", "火警，移交消防119处置")
    agent.click("#btn-transfer")
    agent.wait_for_selector("#registered-number")
    number = agent.locator("#registered-number").inner_text().strip()

    # then: transferred to 119, and the ticket page says so
    rows = hotline_server.sql(
        "select t.state, l.code, t.transfer_reason from routing_ticket t join routing_emergencyline l on l.id = t.transferred_to_id where t.number = %s",
        (number,),
    )
    assert rows == [("transferred", "119", "火警，移交消防119处置")]
    agent.goto(hotline_server.url + f"/tickets/{number}/")
    assert "已移交至 消防119" in agent.locator("#transfer").inner_text()
    assert not pages.dialogs and not pages.errors


def test_staff_find_tickets_through_the_search_engine(pages, hotline_server, shot):
    other = hotline_server.sql(
        "select t.number from routing_ticket t join routing_department d on d.id = t.department_id where d.code = 'chengguan' limit 1"
    )[0][0]
    own = hotline_server.sql("select t.number from routing_ticket t join routing_department d on d.id = t.department_id where d.code = 'zhujian' limit 1")[0][0]

    # the agent: by number, then on to the ticket
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.locator("nav a[href='/tickets/']").click()
    agent.fill("#ts-q", other)
    agent.locator("#ticket-search button[type=submit]").click()
    rows = agent.locator("#ticket-search-results tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-number") == other
    shot(agent, "ticket-search")
    rows.first.locator("a").click()
    agent.wait_for_url(f"**/tickets/{other}/")

    # department staff: their own department's ticket, never another's
    staff = pages.open("zhujian")
    staff.goto(hotline_server.url + "/tickets/?q=" + own)
    assert staff.locator("#ticket-search-results tbody tr").count() == 1
    staff.goto(hotline_server.url + "/tickets/?q=" + other)
    assert staff.locator("#ticket-search-results tbody tr").count() == 0
    assert staff.locator("#ticket-search-results .empty").count() == 1
