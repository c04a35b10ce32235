"""A citizen and an agent chat, each in their own browser context; the agent's panel sits in the console."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_citizen_and_agent_chat(pages, hotline_server, shot):
    # given: the agent at the console and a citizen on the chat page (phone-size)
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.wait_for_selector("#agent-chat")
    citizen = pages.open(phone=True)
    citizen.goto(hotline_server.url + "/chat/")

    # when: the citizen starts a chat and writes
    citizen.fill("#chat-name", "孙先生")
    citizen.click("#chat-start button[type=submit]")
    citizen.wait_for_selector("#chat-room:not([hidden])")
    citizen.fill("#chat-text", "请问公积金租房提取需要什么材料？")
    citizen.click("#chat-send button[type=submit]")

    # then: the agent sees the waiting chat, joins, reads the question and answers
    join = agent.locator("#agent-chat-waiting li", has_text="孙先生").locator("button")
    join.click()
    agent.locator("#agent-chat-log li", has_text="请问公积金租房提取需要什么材料？").wait_for()
    agent.fill("#agent-chat-text", "您好，需要身份证、租房合同和租金发票。")
    agent.click("#agent-chat-send button[type=submit]")
    citizen.locator("#chat-log li", has_text="您好，需要身份证、租房合同和租金发票。").wait_for()
    shot(agent, "console-chat")
    shot(citizen, "citizen-chat-phone")
    assert not pages.dialogs and not pages.errors
