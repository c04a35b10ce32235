"""The learned proposal in the browser: the agent sees it while typing, the dispatcher files the ticket under it."""

from __future__ import annotations

WAGES = "公司拖欠我三个月工资，老板一直不给，请帮忙讨薪"


def test_the_console_proposes_a_category_while_the_agent_types(pages, hotline_server, shot):
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.fill("#reg-description", WAGES)
    proposal = agent.locator("#category-proposal")
    proposal.wait_for(state="visible", timeout=15000)
    text = agent.locator("#proposal-text").inner_text()
    assert "劳动和社会保障" in text and "%" in text
    shot(agent, "console-proposal")
    agent.click("#proposal-accept")
    assert agent.locator("#cat-1 option:checked").inner_text() == "劳动和社会保障"
    assert agent.locator("#cat-3").input_value() != ""

    agent.fill("#reg-description", "短")  # too short to classify: the proposal goes away
    proposal.wait_for(state="hidden", timeout=5000)


def test_the_dispatcher_files_a_web_ticket_under_the_proposed_category(pages, hotline_server, shot):
    rows = hotline_server.sql(
        "select number, proposed_category_id from routing_ticket where state = 'registered' and proposed_category_id is not null order by id limit 1"
    )
    assert rows, "the demo leaves some web tickets uncategorised, with a proposal"
    number, proposed = rows[0]
    dispatcher = pages.open("dispatcher")
    dispatcher.goto(hotline_server.url + "/dispatch/")
    card = dispatcher.locator(f"#sec-registered article[data-number='{number}']")
    learned = card.locator(".learned-proposal")
    assert "建议分类" in learned.inner_text() and "%" in learned.inner_text() and "依据" in learned.inner_text()
    shot(dispatcher, "dispatch-proposal")
    card.locator("details[data-action='dispatch'] > summary").click()
    assert card.locator("select[name='category']").input_value() == str(proposed)
    card.locator("details[data-action='dispatch'] button[type=submit]").click()
    dispatcher.locator(f"#sec-registered article[data-number='{number}']").wait_for(state="detached")
    state, category, confirmed = hotline_server.sql("select state, category_id, category_confirmed_at is not null from routing_ticket where number = %s", (number,))[0]
    assert (state, category, confirmed) == ("dispatched", proposed, True)
