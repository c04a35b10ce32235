"""The closed loop in the browser: screen pop → registration with a knowledge suggestion →
dispatch → accept and reply (arriving live) → review → the citizen reads the reply and rates it."""

from __future__ import annotations

import re
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

pytestmark = pytest.mark.browser

CALLER = "13800000000"  # 张女士 of the demo city
DESCRIPTION = "我家小区门口的路灯不亮了，已经好几天了，晚上出行很不方便，请尽快维修。"
REPLY = "经现场核查，路灯线路老化，已于今日更换线路，路灯恢复照明。"


def screen_pop(server, username: str, *, call_sid: str, caller: str) -> None:
    """Send the message the telephony room sends when a call is bridged to an agent."""
    agent_id = server.sql("select id from routing_user where username = %s", (username,))[0][0]
    citizen = server.sql("select id, name from routing_citizen where phone = %s", (caller,))
    data = {"call_sid": call_sid, "caller": caller, "citizen": None, "recent_tickets": []}
    if citizen:
        citizen_id, name = citizen[0]
        recent = server.sql(
            "select number, state, title, registered_at from routing_ticket where citizen_id = %s order by registered_at desc limit 5", (citizen_id,)
        )
        data["citizen"] = {"id": citizen_id, "name": name, "ticket_count": len(recent)}
        data["recent_tickets"] = [{"number": n, "state": s, "state_label": s, "title": t, "registered_at": r.isoformat()} for n, s, t, r in recent]
    message = {"type": "notify", "event": "screen_pop", "data": data}
    # Playwright's sync API keeps an event loop in this thread; the channel layer is used from another.
    sender = threading.Thread(target=lambda: async_to_sync(get_channel_layer().group_send)(f"user.{agent_id}", message))
    sender.start()
    sender.join(timeout=10)


def live(page) -> None:
    page.wait_for_selector("body[data-live='on']")


def test_the_whole_loop_in_the_browser(pages, hotline_server, shot):
    # given: the agent at the console, the department (城管) at its workspace, both live
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    live(agent)
    department = pages.open("chengguan")
    department.goto(hotline_server.url + "/department/")
    live(department)

    # when: a call is connected to the agent
    screen_pop(hotline_server, "agent", call_sid="CA" + "1" * 32, caller=CALLER)

    # then: the screen pop shows the caller and their history
    pop = agent.locator("#screen-pop")
    pop.wait_for(state="visible")
    assert CALLER in agent.locator("#pop-caller").inner_text()
    assert agent.locator("#pop-citizen").inner_text() == "张女士"
    assert agent.locator("#pop-recent li").count() >= 1
    shot(agent, "console-screen-pop")
    agent.click("#pop-use")
    assert agent.input_value("#reg-phone") == CALLER

    # when: the agent writes down the call
    agent.fill("#reg-description", DESCRIPTION)
    # then: a knowledge article about street lights is suggested while typing
    agent.wait_for_selector("#suggest-articles li.article")
    assert "路灯" in agent.locator("#suggest-articles").inner_text()
    agent.fill("#cat-search", "城乡建设")
    agent.select_option("#cat-1", label="城乡建设")
    agent.select_option("#area-1", label="东城区")
    agent.select_option("#area-2", label="东华街道")
    agent.fill("#reg-address", "示范市东城区东华街道幸福小区南门")
    agent.select_option("#reg-type", "help")
    shot(agent, "console-registration")
    agent.click("#btn-dispatch")
    agent.wait_for_selector("#registered-number")
    number = agent.locator("#registered-number").inner_text().strip()
    assert re.fullmatch(r"\d{8}-\d{6}", number)
    assert hotline_server.sql("select state, channel from routing_ticket where number = %s", (number,)) == [("registered", "phone")]

    # when: the dispatcher sends it to 城管 (the rule's proposal)
    dispatcher = pages.open("dispatcher")
    dispatcher.goto(hotline_server.url + "/dispatch/")
    card = dispatcher.locator(f"#sec-registered article[data-number='{number}']")
    assert "市城市管理局" in card.locator(".proposal").inner_text()
    shot(dispatcher, "dispatch")
    card.locator("details[data-action='dispatch'] > summary").click()
    assert card.locator("select[name='department']").input_value() == "chengguan"
    card.locator("details[data-action='dispatch'] button[type=submit]").click()
    dispatcher.locator(f"#sec-registered article[data-number='{number}']").wait_for(state="detached")

    # then: it appears on the department's page without a reload, with the contact masked
    dept_card = department.locator(f"article[data-number='{number}']")
    dept_card.wait_for(timeout=20000)
    assert CALLER not in dept_card.inner_text()
    assert "138****0000" in dept_card.inner_text()

    # when: the department reveals the contact (logged), accepts and replies
    dept_card.locator("details.reveal > summary").click()
    dept_card.locator("details.reveal input[name='reason']").fill("需要电话联系诉求人核实路灯位置")
    dept_card.locator("details.reveal button[type=submit]").click()
    dept_card.locator(".revealed").wait_for()
    assert CALLER in dept_card.locator(".revealed").inner_text()
    dept_card.locator("form[data-action='accept'] button").click()
    reply = department.locator(f"article[data-number='{number}'] details[data-action='reply']")
    reply.wait_for()
    shot(department, "department")
    reply.locator("summary").click()
    reply.locator("select[name='founded']").select_option("true")
    reply.locator("select[name='solved']").select_option("true")
    reply.locator("textarea[name='text']").fill(REPLY)
    reply.locator("textarea[name='basis']").fill("《示范市城市照明管理办法》")
    reply.locator("button[type=submit]").click()
    department.locator(f"article[data-number='{number}']").wait_for(state="detached")
    kinds = [k for (k,) in hotline_server.sql("select e.kind from routing_ticketevent e join routing_ticket t on t.id = e.ticket_id where t.number = %s order by e.id", (number,))]
    assert kinds == ["ticket.registered", "ticket.dispatched", "ticket.contact_revealed", "ticket.accepted", "ticket.replied"]

    # when: the dispatcher approves the reply (it arrives in the review list live)
    review = dispatcher.locator(f"#sec-replies article[data-number='{number}']")
    review.wait_for(timeout=20000)
    assert REPLY in review.inner_text()
    review.locator("form[data-action='approve_reply'] button").click()
    review.wait_for(state="detached")

    # then: the citizen sees the reply on the tracking page and rates it
    citizen = pages.open(phone=True)
    citizen.goto(hotline_server.url + f"/track/?number={number}")
    citizen.fill("#id_phone", CALLER)
    citizen.click("#track-form button[type=submit]")
    assert REPLY in citizen.locator("#reply").inner_text()
    rating = citizen.locator("#rating-form")
    rating.locator("input[name='solved'][value='yes']").check()
    rating.locator("input[name='satisfaction'][value='satisfied']").check()
    shot(citizen, "citizen-reply-phone")
    rating.locator("button[type=submit]").click()
    citizen.locator("#track-notice").wait_for()
    state, satisfaction = hotline_server.sql("select state, satisfaction from routing_ticket where number = %s", (number,))[0]
    assert satisfaction == "satisfied" and state == "closed"

    # and the staff ticket page shows the whole timeline
    agent.goto(hotline_server.url + f"/tickets/{number}/")
    timeline = agent.locator(".timeline").inner_text()
    for label in ("受理登记", "派单", "签收", "答复", "答复审核通过", "回访", "办结"):
        assert label in timeline
    shot(agent, "ticket-detail")
    assert not pages.dialogs and not pages.errors
