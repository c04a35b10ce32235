"""The search contract: every test here runs against Elasticsearch and the embedded backend."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from knowledge import actions, search
from knowledge.actions import ArticleContent
from knowledge.search import ArticleQuery, TicketQuery
from routing.models import phone_digest

pytestmark = pytest.mark.django_db


def titles(page) -> list[str]:
    return [hit.title for hit in page.results]


def find(text: str, **kwargs):
    return search.search_articles(ArticleQuery(text=text, **kwargs))


# --- words, synonyms, ranking ---------------------------------------------------------
def test_finds_an_article_by_the_words_of_its_title(search_backend, publish):
    # given
    publish(title="城乡居民医疗保险门诊报销指南", body="门诊费用按比例报销，年度限额 3000 元。")
    publish(author="gongjijin", category="fund", title="住房公积金租房提取", body="无房职工可按月提取住房公积金支付房租。")
    # when
    page = find("门诊报销")
    # then
    assert titles(page) == ["城乡居民医疗保险门诊报销指南"]
    assert page.count == 1
    assert page.results[0].score > 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("医保怎么报销", "城乡居民医疗保险门诊报销指南"),  # 医保 → 医疗保险
        ("医宝报销", "城乡居民医疗保险门诊报销指南"),  # a typo callers make
        ("公积金租房", "住房公积金租房提取"),  # 公积金 → 住房公积金
        ("市长热线工作时间", "12345 热线服务时间"),  # 市长热线 → 12345
        ("家里没水了", "计划停水通知查询"),  # 没水 → 停水
    ],
)
def test_synonyms_of_hotline_vocabulary(search_backend, publish, query, expected):
    # given
    publish(title="城乡居民医疗保险门诊报销指南", body="门诊费用按比例报销。")
    publish(author="gongjijin", category="fund", title="住房公积金租房提取", body="无房职工可按月提取支付房租。")
    publish(author="chengguan", category="lamps", title="12345 热线服务时间", body="全天 24 小时受理。")
    publish(author="chengguan", category="lamps", title="计划停水通知查询", body="供水管网检修前会提前公告。")
    # when
    page = find(query)
    # then
    assert titles(page)[:1] == [expected]


def test_title_counts_more_than_body(search_backend, publish):
    # given: the word is in one article's title and in the other's body only
    publish(title="异地就医备案", body="办理渠道：线上、线下均可。")
    publish(title="门诊慢特病待遇", body="参保人在异地就医的，先备案再结算。")
    # when
    page = find("异地就医")
    # then
    assert titles(page) == ["异地就医备案", "门诊慢特病待遇"]


def test_keywords_are_searched(search_backend, publish):
    publish(title="职工医保个人账户", body="个人账户资金可用于支付本人门诊费用。", keywords="家庭共济 给家人用")
    assert titles(find("家庭共济")) == ["职工医保个人账户"]


def test_colloquial_question_with_filler_words(search_backend, publish):
    publish(author="chengguan", category="lamps", title="路灯不亮报修", body="发现路灯损坏可拨打 12345 报修，城管部门 3 日内修复。")
    publish(title="城乡居民医疗保险门诊报销指南", body="门诊费用按比例报销。")
    page = find("你好我想问一下我家门口那个路灯不亮了好几天了怎么办啊")
    assert titles(page)[0] == "路灯不亮报修"


def test_an_empty_query_lists_every_valid_article(search_backend, publish):
    publish(title="甲")
    publish(title="乙")
    page = find("")
    assert page.count == 2
    assert {hit.highlight for hit in page.results} == {""}


def test_nothing_found(search_backend, publish):
    publish(title="城乡居民医疗保险门诊报销指南")
    page = find("量子计算机")
    assert page.count == 0 and page.results == [] and page.next_cursor is None


# --- filters --------------------------------------------------------------------------
def test_category_filter_covers_the_subtree(search_backend, publish, categories):
    publish(title="门诊报销", category="medical")
    publish(title="养老金领取", category="pension")
    publish(author="chengguan", title="路灯报修", category="lamps")
    # the middle node covers both leaves under it
    assert sorted(titles(find("", category_id=categories["insurance"].pk))) == ["养老金领取", "门诊报销"]
    assert titles(find("", category_id=categories["pension"].pk)) == ["养老金领取"]
    assert titles(find("", category_id=categories["city"].pk)) == ["路灯报修"]
    assert titles(find("", category_id=categories["housing"].pk)) == []


def test_department_filter(search_backend, publish, departments):
    publish(title="门诊报销")
    publish(author="chengguan", category="lamps", title="路灯报修")
    assert titles(find("", department_id=departments["chengguan"].pk)) == ["路灯报修"]


def test_expired_and_future_articles_are_left_out_by_default(search_backend, publish, today):
    publish(title="门诊报销政策（现行）", valid_from=today - timedelta(days=30), valid_until=today + timedelta(days=30))
    publish(title="门诊报销政策（已失效）", valid_from=today - timedelta(days=400), valid_until=today - timedelta(days=1))
    publish(title="门诊报销政策（明年起施行）", valid_from=today + timedelta(days=10))
    publish(title="门诊报销政策（长期有效）")
    assert sorted(titles(find("门诊报销"))) == ["门诊报销政策（现行）", "门诊报销政策（长期有效）"]
    current = next(hit for hit in find("门诊报销").results if hit.title == "门诊报销政策（现行）")
    assert (current.valid_from, current.valid_until) == (today - timedelta(days=30), today + timedelta(days=30))
    assert isinstance(current.reviewed_at, datetime) and current.reviewed_at.tzinfo is not None
    everything = find("门诊报销", include_expired=True)
    assert everything.count == 4
    # the last valid day still counts
    assert "门诊报销政策（已失效）" in titles(find("门诊报销", on=today - timedelta(days=1)))


# --- highlights -------------------------------------------------------------------------
def test_highlight_marks_the_matched_words_and_escapes_the_text(search_backend, publish):
    publish(
        title="异地就医备案",
        body="前面是一些无关的说明文字。参保人 `<b>跨省</b>` 异地就医，须先办理备案手续，再持卡直接结算。后面还有别的内容。",
    )
    hit = find("异地就医备案").results[0]
    assert "<em>" in hit.highlight
    assert "<b>" not in hit.highlight and "&lt;b&gt;" in hit.highlight
    marked = hit.highlight.replace("<em>", "[").replace("</em>", "]")
    assert "[异地" in marked or "[异地就医" in marked


def test_highlight_marks_synonyms_found_in_the_body(search_backend, publish):
    publish(title="报销指南", body="城乡居民医疗保险的门诊费用，按规定比例报销。")
    hit = find("医保").results[0]
    assert "<em>医疗" in hit.highlight


# --- paging ---------------------------------------------------------------------------
def _many(publish, n: int) -> None:
    for i in range(n):
        publish(index=False, title=f"医保问答第{i:03d}号", body="医疗保险常见问题。")


def test_pages_follow_each_other_without_overlap(search_backend, publish, deliver):
    _many(publish, 25)
    deliver()
    first = find("医保", size=10)
    second = find("医保", size=10, page=2)
    third = find("医保", size=10, page=3)
    assert first.count == second.count == 25
    assert [len(p.results) for p in (first, second, third)] == [10, 10, 5]
    ids = [hit.id for p in (first, second, third) for hit in p.results]
    assert len(set(ids)) == 25
    # a cursor continues where a page ended, the same as the next page
    assert [h.id for h in find("医保", size=10, cursor=first.next_cursor).results] == [h.id for h in second.results]
    assert third.next_cursor is None


def test_deep_pages_beyond_the_result_window(search_backend, publish, deliver, settings, request):
    # given: a result window of 8 (Elasticsearch refuses from+size beyond it), 30 articles
    settings.SEARCH_MAX_RESULT_WINDOW = 8
    search.delete_all()
    request.addfinalizer(search.delete_all)  # the next tests get indices with the default window
    _many(publish, 30)
    search.rebuild(("articles",))  # the index is created with the small window
    search.refresh()
    # when: pages far beyond the window, by number and by cursor
    by_number = [hit.id for page in range(1, 11) for hit in find("医保", size=3, page=page).results]
    walked, cursor = [], None
    while True:
        page = find("医保", size=4, cursor=cursor)
        walked += [hit.id for hit in page.results]
        cursor = page.next_cursor
        if cursor is None:
            break
    # then: every article exactly once, in the same order both ways
    assert len(by_number) == 30 and len(set(by_number)) == 30
    assert walked == by_number
    # a page past the end is empty, not an error
    beyond = find("医保", size=3, page=40)
    assert beyond.results == [] and beyond.count == 30 and beyond.next_cursor is None


# --- index updates only through the outbox ----------------------------------------------
def test_publishing_reaches_search_only_through_the_outbox(search_backend, publish, deliver):
    article = publish(index=False, title="住房公积金贷款额度")
    search.refresh()
    assert find("公积金贷款").count == 0
    stats = deliver()
    assert stats.delivered >= 1
    assert titles(find("公积金贷款")) == ["住房公积金贷款额度"]
    assert article.pk in {hit.id for hit in find("公积金贷款").results}


def test_a_revision_stays_out_of_search_until_approved(search_backend, publish, cast, categories, deliver):
    article = publish(title="门诊报销比例", body="报销比例为 50%。")
    draft = actions.update_article(
        article, content=ArticleContent(title="门诊报销比例（2026 版）", body="报销比例提高到 60%。", category=categories["medical"]), by=cast["yibao"]
    )
    deliver()
    assert titles(find("门诊报销")) == ["门诊报销比例"]
    actions.submit_article(draft, by=cast["yibao"])
    actions.approve_article(draft, by=cast["supervisor"])
    deliver()
    page = find("门诊报销")
    assert titles(page) == ["门诊报销比例（2026 版）"]
    assert page.results[0].version == 2


def test_archived_articles_leave_search(search_backend, publish, cast, deliver):
    article = publish(title="门诊报销比例")
    actions.archive_article(article, by=cast["yibao"])
    deliver()
    assert find("门诊报销").count == 0


# --- tickets --------------------------------------------------------------------------
def test_tickets_by_number_phone_address_and_text(search_backend, new_ticket, deliver):
    # given
    lamp = new_ticket(description="东华街道路灯不亮已经一周了", address="示范市东城区东华街道幸福里 3 号", citizen_phone="13800138000")
    noise = new_ticket(description="楼下烧烤摊每天夜里很吵", address="示范市西城区月坛街道 8 号", citizen_phone="13900139000")
    deliver()
    # when / then
    assert [h.number for h in search.search_tickets(TicketQuery(number=lamp.number)).results] == [lamp.number]
    by_phone = search.search_tickets(TicketQuery(phone_digest=phone_digest("139 0013 9000")))
    assert [h.number for h in by_phone.results] == [noise.number]
    assert [h.number for h in search.search_tickets(TicketQuery(address="幸福里")).results] == [lamp.number]
    assert [h.number for h in search.search_tickets(TicketQuery(text="烧烤摊噪音")).results] == [noise.number]


def test_a_callers_tickets_come_newest_first(search_backend, new_ticket, deliver):
    first = new_ticket(description="第一次反映路灯", citizen_phone="13700137000")
    second = new_ticket(description="第二次反映井盖", citizen_phone="13700137000")
    new_ticket(description="别人的工单", citizen_phone="13600136000")
    deliver()
    page = search.search_tickets(TicketQuery(phone_digest=phone_digest("+86 137-0013-7000")))
    assert [h.number for h in page.results] == [second.number, first.number]
    assert page.results[0].registered_at == second.registered_at


def test_similar_resolved_tickets_come_with_their_answer(search_backend, new_ticket, resolved_ticket, deliver):
    resolved_ticket(description="幸福里小区门口路灯坏了", reply="已更换灯泡，路灯恢复正常。")
    new_ticket(description="幸福里小区门口路灯又坏了")  # still open: no answer to show
    deliver()
    page = search.search_tickets(TicketQuery(text="路灯坏了", resolved_only=True))
    assert page.count == 1
    hit = page.results[0]
    assert hit.resolved and hit.answer == "已更换灯泡，路灯恢复正常。"
    assert hit.state == "closed"


def test_ticket_visibility_by_department(search_backend, resolved_ticket, departments, deliver):
    own = resolved_ticket(department="chengguan", description="路灯坏了请修理")
    assisted = resolved_ticket(department="yibao", assisting=("chengguan",), description="路灯杆歪了")
    other = resolved_ticket(department="yibao", description="路灯闪烁")
    deliver()
    visible = search.search_tickets(TicketQuery(text="路灯", department_ids=[departments["chengguan"].pk]))
    assert {h.number for h in visible.results} == {own.number, assisted.number}
    everything = search.search_tickets(TicketQuery(text="路灯"))
    assert {h.number for h in everything.results} == {own.number, assisted.number, other.number}
    assert search.search_tickets(TicketQuery(text="路灯", department_ids=[])).count == 0


def test_ticket_steps_update_the_index(search_backend, new_ticket, cast, deliver):
    from routing import actions as ticket_actions

    ticket = new_ticket(description="咨询门诊报销比例")
    deliver()
    assert search.search_tickets(TicketQuery(text="门诊报销", resolved_only=True)).count == 0
    ticket_actions.resolve_ticket(ticket, answer="按知识库答复：报销比例 50%。", by=cast["agent"])
    deliver()
    page = search.search_tickets(TicketQuery(text="门诊报销", resolved_only=True))
    assert [h.answer for h in page.results] == ["按知识库答复：报销比例 50%。"]


# --- rebuild ----------------------------------------------------------------------------
def test_rebuild_swaps_in_a_new_index_and_search_answers_throughout(search_backend, publish, new_ticket, deliver):
    # given
    publish(title="门诊报销比例")
    new_ticket(description="路灯不亮")
    deliver()
    before = search.current_index("articles")
    seen_during: list[int] = []

    def progress(kind, total):
        def step(n):
            # searches during the rebuild are answered from the old index
            seen_during.append(find("门诊报销").count)

        return step

    # when
    reports = search.rebuild(progress=progress)
    search.refresh()
    # then
    assert reports["articles"]["indexed"] == 1 and reports["tickets"]["indexed"] == 1
    assert search.current_index("articles") != before
    assert seen_during and set(seen_during) == {1}
    assert titles(find("门诊报销")) == ["门诊报销比例"]
    assert search.search_tickets(TicketQuery(text="路灯")).count == 1


def test_rebuild_catches_up_with_changes_made_meanwhile(search_backend, publish, cast, deliver):
    article = publish(title="门诊报销比例")
    changed = {"done": False}

    def progress(kind, total):
        def step(n):
            if kind == "articles" and not changed["done"]:
                # an approval lands while the new index is being filled; its outbox message went to the old index
                changed["done"] = True
                actions.archive_article(article, by=cast["yibao"])
                deliver()

        return step

    report = search.rebuild(("articles",), progress=progress)
    search.refresh()
    assert report["articles"]["caught_up"] >= 1
    assert find("门诊报销").count == 0


def test_the_index_holds_no_phone_number(search_backend, new_ticket, deliver, settings):
    ticket = new_ticket(description="路灯不亮", citizen_phone="13812345678", citizen_name="王秀英")
    deliver()
    if search_backend == "elasticsearch":
        from knowledge.search import elastic

        source = elastic.client().get(index=elastic.alias_name("tickets"), id=str(ticket.pk))["_source"]
        stored = repr(source)
    else:
        stored = settings.EMBEDDED_SEARCH_PATH.read_bytes().decode("utf-8", "ignore")
        stored += (settings.EMBEDDED_SEARCH_PATH.parent / (settings.EMBEDDED_SEARCH_PATH.name + "-wal")).read_bytes().decode("utf-8", "ignore") if (
            settings.EMBEDDED_SEARCH_PATH.parent / (settings.EMBEDDED_SEARCH_PATH.name + "-wal")
        ).exists() else ""
    assert "13812345678" not in stored and "王秀英" not in stored
    assert ticket.number in stored


def test_a_failed_rebuild_leaves_the_current_index_answering(search_backend, publish):
    from knowledge.search import records

    publish(title="门诊报销比例")
    before = search.current_index("articles")

    def broken():
        yield from records.article_records()
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        search.backend().rebuild("articles", broken(), chunk_size=1)
    assert search.current_index("articles") == before
    assert titles(find("门诊报销")) == ["门诊报销比例"]
