"""Articles: writing, review, publication with versions and diffs, validity, staleness, who may do what."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from knowledge import actions
from knowledge.actions import ArticleContent
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.models import Article, ArticleState, ArticleVersion
from routing.models import OutboxMessage

pytestmark = pytest.mark.django_db


def index_messages() -> list[dict]:
    return list(OutboxMessage.objects.filter(kind="search.article").values_list("payload", flat=True))


# --- writing --------------------------------------------------------------------------------
def test_department_staff_write_drafts_for_their_own_department(write_article, departments):
    article = write_article("yibao", title="  门诊报销  ", body="**比例** 50%<script>alert(1)</script>", keywords="医保，报销、门诊")
    assert article.state == ArticleState.DRAFT
    assert article.department == departments["yibao"]
    assert article.title == "门诊报销"
    assert article.keywords == "医保 报销 门诊"
    assert "<strong>比例</strong>" in article.body_html and "script" not in article.body_html
    assert article.slug.startswith("kb-")
    assert not article.live and article.published_version == 0
    assert index_messages() == []  # drafts are not searchable


@pytest.mark.parametrize("who", ["agent", "dispatcher", "supervisor", "nobody"])
def test_only_department_staff_write(cast, categories, who):
    content = ArticleContent(title="标题", body="正文", category=categories["medical"])
    with pytest.raises(NotAllowed):
        actions.create_article(content=content, by=cast[who])


def test_staff_cannot_write_for_another_department(cast, categories, departments):
    content = ArticleContent(title="标题", body="正文", category=categories["medical"])
    with pytest.raises(NotAllowed):
        actions.create_article(content=content, by=cast["yibao"], department=departments["chengguan"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"body": ""}, "body"),
        ({"category": None}, "category"),
        ({"valid_from": date(2026, 5, 1), "valid_until": date(2026, 4, 30)}, "valid_until"),
        ({"keywords": "词" * 301}, "keywords"),
    ],
)
def test_bad_content_is_refused_with_field_details(cast, categories, fields, field):
    values = {"title": "标题", "body": "正文", "category": categories["medical"], **fields}
    with pytest.raises(InvalidInput) as caught:
        actions.create_article(content=ArticleContent(**values), by=cast["yibao"])
    assert field in caught.value.details
    assert Article.objects.count() == 0


def test_slug_must_be_unique_and_well_formed(cast, categories):
    content = ArticleContent(title="标题", body="正文", category=categories["medical"])
    actions.create_article(content=content, by=cast["yibao"], slug="medical-guide")
    with pytest.raises(InvalidInput):
        actions.create_article(content=content, by=cast["yibao"], slug="medical-guide")
    with pytest.raises(InvalidInput):
        actions.create_article(content=content, by=cast["yibao"], slug="Bad Slug")


# --- review and publication -----------------------------------------------------------------
def test_submit_approve_publishes_version_one(write_article, cast):
    # given
    article = write_article("yibao", title="门诊报销", body="第一行\n第二行")
    # when
    article = actions.submit_article(article, by=cast["yibao"])
    assert article.state == ArticleState.IN_REVIEW and article.submitted_at is not None
    article = actions.approve_article(article, by=cast["dispatcher"], note="内容准确")
    # then
    assert article.state == ArticleState.PUBLISHED and article.live
    assert article.published_version == 1
    assert article.reviewed_by == cast["dispatcher"] and article.reviewed_at is not None
    version = article.live_version()
    assert (version.number, version.title, version.published_by) == (1, "门诊报销", cast["dispatcher"])
    assert "+第一行" in version.diff and "+++ v1" in version.diff
    assert index_messages() == [{"article_id": article.pk}]


def test_a_revision_becomes_version_two_with_a_diff(publish, cast, categories):
    article = publish(title="门诊报销", body="报销比例 50%\n不变的一行", index=False)
    revised = actions.update_article(
        article, content=ArticleContent(title="门诊报销", body="报销比例 60%\n不变的一行", category=categories["medical"]), by=cast["yibao"]
    )
    # editing a published article starts a revision; the published version stays live
    assert revised.state == ArticleState.DRAFT and revised.live and revised.published_version == 1
    actions.submit_article(revised, by=cast["yibao"])
    published = actions.approve_article(revised, by=cast["supervisor"])
    assert published.published_version == 2
    v2 = ArticleVersion.objects.get(article=published, number=2)
    assert "-报销比例 50%" in v2.diff and "+报销比例 60%" in v2.diff
    assert " 不变的一行" in v2.diff
    assert "--- v1" in v2.diff
    assert list(published.versions.values_list("number", flat=True)) == [2, 1]


def test_reject_returns_the_draft_with_the_reason(write_article, cast):
    article = actions.submit_article(write_article("yibao"), by=cast["yibao"])
    with pytest.raises(InvalidInput):
        actions.reject_article(article, by=cast["dispatcher"], reason="  ")
    article = actions.reject_article(article, by=cast["dispatcher"], reason="报销比例与文件不符")
    assert article.state == ArticleState.DRAFT and article.review_note == "报销比例与文件不符"
    assert not article.live and article.versions.count() == 0
    # resubmitting clears the old reason
    article = actions.submit_article(article, by=cast["yibao"])
    assert article.review_note == ""


@pytest.mark.parametrize("who", ["agent", "yibao", "chengguan"])
def test_only_the_dispatch_desk_approves(write_article, cast, who):
    article = actions.submit_article(write_article("yibao"), by=cast["yibao"])
    with pytest.raises(NotAllowed):
        actions.approve_article(article, by=cast[who])
    with pytest.raises(NotAllowed):
        actions.reject_article(article, by=cast[who], reason="不行")
    assert Article.objects.get(pk=article.pk).state == ArticleState.IN_REVIEW


def test_other_departments_cannot_touch_an_article(write_article, cast, categories):
    article = write_article("yibao")
    with pytest.raises(NotAllowed):
        actions.submit_article(article, by=cast["chengguan"])
    with pytest.raises(NotAllowed):
        actions.update_article(article, content=ArticleContent(title="改", body="改", category=categories["medical"]), by=cast["chengguan"])
    with pytest.raises(NotAllowed):
        actions.archive_article(article, by=cast["chengguan"])


def test_steps_out_of_order_are_conflicts(write_article, publish, cast, categories):
    draft = write_article("yibao")
    with pytest.raises(Conflict):
        actions.approve_article(draft, by=cast["dispatcher"])
    in_review = actions.submit_article(write_article("yibao"), by=cast["yibao"])
    with pytest.raises(Conflict):
        actions.submit_article(in_review, by=cast["yibao"])
    with pytest.raises(Conflict):  # no edits while the hotline reviews
        actions.update_article(in_review, content=ArticleContent(title="改", body="改", category=categories["medical"]), by=cast["yibao"])
    archived = actions.archive_article(publish(index=False), by=cast["yibao"])
    with pytest.raises(Conflict):
        actions.update_article(archived, content=ArticleContent(title="改", body="改", category=categories["medical"]), by=cast["yibao"])


def test_the_state_field_is_protected(write_article):
    article = write_article("yibao")
    with pytest.raises(AttributeError):
        article.state = ArticleState.PUBLISHED
    with pytest.raises(TransitionNotAllowed):
        article.approve(by_user=None, at=timezone.now(), version=1, note="")


def test_archive_takes_it_out_and_restore_needs_a_new_review(publish, cast):
    article = publish(index=False)
    archived = actions.archive_article(article, by=cast["dispatcher"])
    assert archived.state == ArticleState.ARCHIVED and not archived.live
    assert Article.objects.live().count() == 0
    restored = actions.restore_article(archived, by=cast["yibao"])
    assert restored.state == ArticleState.DRAFT and not restored.live
    republished = actions.approve_article(actions.submit_article(restored, by=cast["yibao"]), by=cast["dispatcher"])
    assert republished.live and republished.published_version == 2
    assert len(index_messages()) == 3  # publish, archive, publish again


# --- validity and staleness --------------------------------------------------------------------
def test_validity(publish, today):
    current = publish(index=False, title="现行", valid_from=today - timedelta(days=1), valid_until=today)
    expired = publish(index=False, title="失效", valid_until=today - timedelta(days=1))
    future = publish(index=False, title="未生效", valid_from=today + timedelta(days=1))
    assert current.is_valid_on(today) and not current.is_expired
    assert expired.is_expired and not expired.is_valid_on(today)
    assert not future.is_valid_on(today)
    assert set(Article.objects.valid_on(today).values_list("title", flat=True)) == {"现行"}


def test_stale_after_the_configured_days_and_confirmation_clears_it(publish, cast, settings):
    settings.KNOWLEDGE_STALE_DAYS = 30
    article = publish(index=False)
    assert not article.is_stale
    Article.objects.filter(pk=article.pk).update(reviewed_at=timezone.now() - timedelta(days=31))
    article.refresh_from_db()
    assert article.is_stale
    assert list(Article.objects.stale()) == [article]
    settings.KNOWLEDGE_STALE_DAYS = 60
    assert not Article.objects.get(pk=article.pk).is_stale
    settings.KNOWLEDGE_STALE_DAYS = 30
    with pytest.raises(NotAllowed):
        actions.confirm_article(article, by=cast["yibao"])
    confirmed = actions.confirm_article(article, by=cast["supervisor"])
    assert not confirmed.is_stale and confirmed.reviewed_by == cast["supervisor"]
    assert Article.objects.stale().count() == 0


def test_drafts_are_never_stale(write_article, settings):
    settings.KNOWLEDGE_STALE_DAYS = 1
    assert not write_article("yibao").is_stale


# --- the demo loader's upsert ---------------------------------------------------------------------
def test_import_creates_then_updates_then_leaves_alone(cast, categories, departments):
    content = ArticleContent(title="门诊报销", body="比例 50%", category=categories["medical"], keywords="医保")
    article, changed = actions.import_published_article(slug="demo-outpatient", content=content, department=departments["yibao"])
    assert changed and article.published_version == 1 and article.state == ArticleState.PUBLISHED
    again, changed = actions.import_published_article(
        slug="demo-outpatient", content=ArticleContent(title="门诊报销", body="比例 50%", category=categories["medical"], keywords="医保"),
        department=departments["yibao"],
    )  # fmt: skip
    assert not changed and again.published_version == 1
    updated, changed = actions.import_published_article(
        slug="demo-outpatient", content=ArticleContent(title="门诊报销", body="比例 60%", category=categories["medical"], keywords="医保"),
        department=departments["yibao"],
    )  # fmt: skip
    assert changed and updated.published_version == 2 and updated.live_version().body == "比例 60%"
