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


MIXER = ["A2区丽发新城小区旁边的搅拌站每天晚上施工到凌晨，噪音太大，灰尘满天，严重影响居民休息",
         "丽发新城附近搅拌站夜间噪音扰民，粉尘污染严重，希望环保部门尽快查处",
         "请管一管丽发新城边上的搅拌站，半夜还在生产，噪音和扬尘让人无法入睡"]  # fmt: skip


def _register(hotline_server, text: str, phone: str) -> str:
    import json
    import urllib.request

    def post(path, body, token=None):
        request = urllib.request.Request(hotline_server.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        if token:
            request.add_header("Authorization", f"Token {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    token = post("/api/v1/auth/token/", {"username": "agent", "password": "demo-12345"})["token"]
    body = {"channel": "phone", "type": "complaint", "description": text, "citizen": {"name": "测试", "phone": phone}}
    return post("/api/v1/tickets/", body, token)["number"]


def test_the_console_shows_what_this_caller_reported_before_and_the_supervisor_sees_the_hot_issue(pages, hotline_server, shot):
    import time

    numbers = [_register(hotline_server, text, f"1391234{n:04d}") for n, text in enumerate(MIXER)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the worker joins them to their hot issue
        joined = hotline_server.sql("select count(*) from routing_ticketsignature s join routing_ticket t on t.id = s.ticket_id where t.number = any(%s) and s.issue_id is not null", (numbers,))[0][0]
        if joined == len(numbers):
            break
        time.sleep(0.5)
    agent = pages.open("agent")
    agent.goto(hotline_server.url + "/console/")
    agent.fill("#reg-phone", "13912340000")
    agent.fill("#reg-description", "丽发新城的搅拌站晚上又开工了，噪音还是很大")
    box = agent.locator("#repeats")
    box.wait_for(state="visible", timeout=15000)
    assert numbers[0] in agent.locator("#repeats-same").inner_text() and "重复件" in box.inner_text()
    assert numbers[1] in agent.locator("#repeats-similar").inner_text()
    shot(agent, "console-repeats")

    supervisor = pages.open("supervisor")
    supervisor.goto(hotline_server.url + "/supervisor/hot-issues/")
    issue = supervisor.locator(".hot-issue", has_text="搅拌站").first
    assert "3" in issue.inner_text() and issue.locator("svg polyline").count() == 1
    issue.locator("summary").click()
    assert all(issue.locator(f"a[href='/tickets/{n}/']").count() == 1 for n in numbers)
    shot(supervisor, "hot-issues")


def test_the_department_sees_its_draft_reply_checked_and_the_dispatcher_the_review(pages, hotline_server, shot):
    rows = hotline_server.sql(
        "select t.number from routing_ticket t join routing_department d on d.id = t.department_id "
        "where t.state = 'accepted' and d.code = 'chengguan' and not t.extension_pending order by t.due_at limit 1"
    )
    assert rows, "the demo leaves accepted tickets at 市城市管理局"
    number = rows[0][0]
    department = pages.open("chengguan")
    department.goto(hotline_server.url + "/department/")
    card = department.locator(f"article[data-number='{number}']")
    card.locator("details[data-action='reply'] > summary").click()
    form = card.locator("form[data-action='reply']")
    form.locator("textarea[name='text']").fill("您好，您反映的问题不属于我局职责范围，建议您向有关部门反映。")
    result = form.locator(".reply-check-result")
    result.wait_for(state="visible", timeout=15000)
    assert "疑似推诿" in result.inner_text()
    assert form.locator(".reply-elements li.missing[data-element='result']").count() == 1
    shot(department, "department-reply-check")

    form.locator("textarea[name='text']").fill(
        "经现场核实，您反映的问题属实。我局已于当日安排执法人员到场，责令责任单位立即整改，目前已整改完毕。"
        "依据《城市市容和环境卫生管理条例》第十四条处理。如有疑问请拨打 12345。"
    )
    form.locator(".reply-elements li.found[data-element='result']").wait_for(timeout=15000)
    assert "疑似推诿" not in result.inner_text()
    for name in ("founded", "solved"):
        form.locator(f"select[name='{name}']").select_option("true")
    form.locator("button[type=submit]").click()
    card.wait_for(state="detached")

    dispatcher = pages.open("dispatcher")
    dispatcher.goto(hotline_server.url + "/dispatch/")
    reviewed = dispatcher.locator(f"#sec-replies article[data-number='{number}'] .reply-review")
    assert "完整性" in reviewed.inner_text() and "相关性" in reviewed.inner_text()
    assert reviewed.locator("li.found[data-element='basis']").count() == 1
    shot(dispatcher, "dispatch-reply-review")
