"""The editor pages: search for agents, writing for departments, review for the dispatch desk."""

from __future__ import annotations

import types

import pytest
from django.test import Client
from django.urls import include, path

from knowledge.models import Article, ArticleState

pytestmark = pytest.mark.django_db

# The pages as the project mounts them (/knowledge/), in front of the rest of the site.
urls = types.ModuleType("knowledge_test_urls")
urls.urlpatterns = [path("knowledge/", include("knowledge.page_urls")), path("", include("hotline.urls"))]


@pytest.fixture(autouse=True)
def mounted(settings):
    settings.ROOT_URLCONF = urls


@pytest.fixture
def browser(cast):
    """A browser signed in as one of the cast, enforcing CSRF like a real one."""

    def sign_in(name: str) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(cast[name])
        return client

    return sign_in


def csrf_post(client: Client, url: str, data: dict | None = None):
    """POST the way a page's form does: with the token from a page the user just loaded."""
    page = client.get("/knowledge/articles/")
    token = page.cookies.get("csrftoken") or client.cookies.get("csrftoken")
    assert token is not None
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token.value})


def form_data(categories, **overrides) -> dict:
    data = {"title": "门诊报销指南", "category": categories["medical"].pk, "keywords": "医保 报销", "body": "## 比例\n\n门诊报销 50%。", "valid_from": "", "valid_until": ""}
    data.update(overrides)
    return data


def test_login_is_required(client):
    for url in ("/knowledge/", "/knowledge/articles/", "/knowledge/articles/new/", "/knowledge/review/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_a_user_without_a_role_is_refused(browser):
    assert browser("nobody").get("/knowledge/").status_code == 403


def test_the_whole_workflow_through_the_pages(browser, cast, categories, settings):
    staff, desk = browser("yibao"), browser("dispatcher")
    # write
    page = staff.get("/knowledge/articles/new/")
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.content.decode()
    response = csrf_post(staff, "/knowledge/articles/new/", form_data(categories))
    article = Article.objects.get(title="门诊报销指南")
    assert response.status_code == 302 and response["Location"] == f"/knowledge/articles/{article.pk}/"
    assert article.state == ArticleState.DRAFT and article.department == cast["yibao"].department
    # submit
    assert csrf_post(staff, f"/knowledge/articles/{article.pk}/submit/").status_code == 302
    assert Article.objects.get(pk=article.pk).state == ArticleState.IN_REVIEW
    # the review queue lists it
    queue = desk.get("/knowledge/review/").content.decode()
    assert "门诊报销指南" in queue
    # reject without a reason: refused; with one: back to a draft
    csrf_post(desk, f"/knowledge/articles/{article.pk}/reject/", {"reason": ""})
    assert Article.objects.get(pk=article.pk).state == ArticleState.IN_REVIEW
    csrf_post(desk, f"/knowledge/articles/{article.pk}/reject/", {"reason": "请补充办理地点"})
    article.refresh_from_db()
    assert article.state == ArticleState.DRAFT and article.review_note == "请补充办理地点"
    assert "请补充办理地点" in staff.get(f"/knowledge/articles/{article.pk}/").content.decode()
    # edit, resubmit, approve (publish)
    response = csrf_post(staff, f"/knowledge/articles/{article.pk}/edit/", form_data(categories, body="## 比例\n\n门诊报销 50%。\n\n办理地点：市民中心。"))
    assert response.status_code == 302
    csrf_post(staff, f"/knowledge/articles/{article.pk}/submit/")
    response = csrf_post(desk, f"/knowledge/articles/{article.pk}/approve/", {"next": "/knowledge/review/"})
    assert response["Location"] == "/knowledge/review/"
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED and article.published_version == 1
    # history shows the version with its diff
    history = staff.get(f"/knowledge/articles/{article.pk}/history/").content.decode()
    assert "v1" in history and "+办理地点：市民中心。" in history and "diff-added" in history
    # archive
    csrf_post(staff, f"/knowledge/articles/{article.pk}/archive/")
    assert Article.objects.get(pk=article.pk).state == ArticleState.ARCHIVED


def test_form_errors_are_shown_and_nothing_is_saved(browser, categories):
    staff = browser("yibao")
    response = csrf_post(staff, "/knowledge/articles/new/", form_data(categories, title="", valid_from="2026-05-02", valid_until="2026-05-01"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "errorlist" in html
    assert Article.objects.count() == 0


def test_a_post_without_the_csrf_token_is_refused(browser, write_article):
    article = write_article("yibao")
    response = browser("yibao").post(f"/knowledge/articles/{article.pk}/submit/")
    assert response.status_code == 403
    assert Article.objects.get(pk=article.pk).state == ArticleState.DRAFT


def test_steps_are_get_proof(browser, write_article):
    article = write_article("yibao")
    assert browser("yibao").get(f"/knowledge/articles/{article.pk}/submit/").status_code == 405


def test_who_sees_and_does_what(browser, write_article, publish):
    draft = write_article("yibao", title="医保草稿")
    live = publish(author="chengguan", category="lamps", title="路灯报修", index=False)
    # another department neither sees nor touches the draft
    assert browser("chengguan").get(f"/knowledge/articles/{draft.pk}/").status_code == 404
    assert csrf_post(browser("chengguan"), f"/knowledge/articles/{draft.pk}/submit/").status_code == 404
    # agents read live articles only, and have no buttons
    agent = browser("agent")
    assert agent.get(f"/knowledge/articles/{draft.pk}/").status_code == 404
    html = agent.get(f"/knowledge/articles/{live.pk}/").content.decode()
    assert "路灯报修" in html and "knowledge-article-action" not in html and "/archive/" not in html
    assert agent.get("/knowledge/review/").status_code == 403
    assert agent.get("/knowledge/articles/new/").status_code == 403
    # department staff may not approve, even their own
    staff = browser("yibao")
    csrf_post(staff, f"/knowledge/articles/{draft.pk}/submit/")
    assert csrf_post(staff, f"/knowledge/articles/{draft.pk}/approve/").status_code == 403
    assert Article.objects.get(pk=draft.pk).state == ArticleState.IN_REVIEW
    # the list shows each department its own articles
    assert "医保草稿" in staff.get("/knowledge/articles/").content.decode()
    assert "医保草稿" not in browser("chengguan").get("/knowledge/articles/").content.decode()


def test_the_search_page(browser, publish, deliver):
    publish(title="城乡居民医疗保险门诊报销指南", body="门诊费用按比例报销。")
    deliver()
    html = browser("agent").get("/knowledge/", {"q": "医保报销"}).content.decode()
    assert "城乡居民医疗保险门诊报销指南" in html and "<em>" in html
    assert "没有找到" in browser("agent").get("/knowledge/", {"q": "量子计算"}).content.decode()


def test_the_search_page_says_when_search_is_down(browser, settings, tmp_path):
    settings.EMBEDDED_SEARCH_PATH = tmp_path / "missing" / "search.sqlite3"
    response = browser("agent").get("/knowledge/", {"q": "医保"})
    assert response.status_code == 200
    assert "暂时不可用" in response.content.decode()


def test_unknown_step_is_404(browser, write_article):
    article = write_article("yibao")
    assert csrf_post(browser("yibao"), f"/knowledge/articles/{article.pk}/publish-now/").status_code == 404


def test_next_only_goes_to_knowledge_pages(browser, write_article):
    article = write_article("yibao")
    response = csrf_post(browser("yibao"), f"/knowledge/articles/{article.pk}/submit/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/knowledge/articles/{article.pk}/"
