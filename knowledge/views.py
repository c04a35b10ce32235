"""Knowledge pages: search for agents, the article editor for departments, the review queue for the hotline.

Views check who is asking, validate the form and call one action of
``knowledge.actions``; every write is a POST with a CSRF token.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from knowledge import actions, search, suggestions
from knowledge.errors import Conflict, InvalidInput, KnowledgeError, NotAllowed, SearchUnavailable
from knowledge.forms import ArticleForm, ReasonForm, SearchForm
from knowledge.models import REVIEWER_ROLES, Article, ArticleState, is_owner_or_reviewer, is_owner_staff
from knowledge.search import ArticleQuery
from routing.roles import Role, as_actor

PAGE_SIZE = 10


def _staff(request):
    if not suggestions.is_staff_user(request.user):
        raise PermissionDenied(_("只有工作人员可以使用知识库"))
    return as_actor(request.user)


def _visible_article(request, pk: int) -> Article:
    actor = _staff(request)
    return get_object_or_404(Article.objects.visible_to(actor).select_related("category", "department"), pk=pk)


def _allowed_actions(article: Article, actor) -> list[str]:
    """The workflow buttons this actor may press on this article now."""
    names = []
    owner = is_owner_staff(article, actor) and actor.role != Role.SYSTEM
    reviewer = actor.role in REVIEWER_ROLES
    if owner and article.state in {ArticleState.DRAFT, ArticleState.PUBLISHED}:
        names.append("edit")
    if owner and article.state == ArticleState.DRAFT:
        names.append("submit")
    if reviewer and article.state == ArticleState.IN_REVIEW:
        names += ["approve", "reject"]
    if reviewer and article.state == ArticleState.PUBLISHED:
        names.append("confirm")
    if is_owner_or_reviewer(article, actor) and article.state != ArticleState.ARCHIVED and actor.role != Role.AGENT:
        names.append("archive")
    if is_owner_or_reviewer(article, actor) and article.state == ArticleState.ARCHIVED and actor.role != Role.AGENT:
        names.append("restore")
    return names


# --- search (话务员) ---------------------------------------------------------------
@login_required
def search_page(request):
    """知识检索: the agent types the caller's question and reads the best articles."""
    _staff(request)
    form = SearchForm(request.GET or None)
    page = None
    unavailable = False
    number = 1
    if form.is_bound and form.is_valid() and (form.cleaned_data["q"] or form.cleaned_data["category"] or form.cleaned_data["department"]):
        number = form.cleaned_data.get("page") or 1
        query = ArticleQuery(
            text=form.cleaned_data["q"],
            category_id=form.cleaned_data["category"],
            department_id=form.cleaned_data["department"],
            include_expired=form.cleaned_data["include_expired"],
            page=number,
            size=PAGE_SIZE,
        )
        try:
            page = search.search_articles(query)
        except SearchUnavailable:
            unavailable = True
        except InvalidInput as exc:
            form.add_error(None, exc.message)
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "results": [hit.as_dict(stale_before=suggestions.stale_before()) for hit in page.results] if page else [],
        "unavailable": unavailable,
        "number": number,
        "first": (number - 1) * PAGE_SIZE + 1,
        "has_next": bool(page and number * PAGE_SIZE < page.count),
        "query_string": params.urlencode(),
    }
    return render(request, "knowledge/search.html", context)


# --- the editor (承办单位) and review (派单员 / 督办) ----------------------------------------
@login_required
def article_list(request):
    """知识条目: department staff see their department's articles, reviewers all of them."""
    actor = _staff(request)
    articles = Article.objects.visible_to(actor).select_related("category", "department")
    state = request.GET.get("state", "")
    if state in ArticleState.values:
        articles = articles.filter(state=state)
    if request.GET.get("stale") == "1":
        articles = articles.stale()
    paginator = Paginator(articles.order_by("-updated_at", "-id"), 20)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/article_list.html",
        {
            "page": page,
            "state": state,
            "states": ArticleState.choices,
            "stale_only": request.GET.get("stale") == "1",
            "can_write": actor.role == Role.DEPARTMENT,
        },
    )


@login_required
def review_queue(request):
    """审核队列: articles departments submitted, oldest first."""
    actor = _staff(request)
    if actor.role not in REVIEWER_ROLES:
        raise PermissionDenied(_("只有派单员和督办可以审核知识条目"))
    articles = Article.objects.filter(state=ArticleState.IN_REVIEW).select_related("category", "department").order_by("submitted_at", "id")
    stale = Article.objects.stale().select_related("department").order_by("reviewed_at", "id")[:50]
    return render(request, "knowledge/review_queue.html", {"articles": articles, "stale": stale, "reject_form": ReasonForm()})


@login_required
@require_http_methods(["GET", "POST"])
def article_create(request):
    """编写知识条目 (department staff, for their own department)."""
    actor = _staff(request)
    if actor.role != Role.DEPARTMENT:
        raise PermissionDenied(_("只有承办单位工作人员可以编写知识条目"))
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            article = actions.create_article(content=form.content(), by=request.user)
        except InvalidInput as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("草稿已保存，提交审核后才会被检索到。"))
            return redirect("knowledge-article", pk=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": None})


@login_required
@require_http_methods(["GET", "POST"])
def article_edit(request, pk: int):
    """修改: a draft is edited in place; a published article starts a revision."""
    article = _visible_article(request, pk)
    actor = as_actor(request.user)
    if "edit" not in _allowed_actions(article, actor):
        raise PermissionDenied(_("不能修改此知识条目"))
    form = ArticleForm(request.POST) if request.method == "POST" else ArticleForm.for_article(article)
    if request.method == "POST" and form.is_valid():
        try:
            article = actions.update_article(article, content=form.content(), by=request.user)
        except InvalidInput as exc:
            _form_errors(form, exc)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except Conflict as exc:
            messages.error(request, exc.message)
            return redirect("knowledge-article", pk=article.pk)
        else:
            messages.success(request, _("已保存。"))
            return redirect("knowledge-article", pk=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": article})


def _form_errors(form, exc: InvalidInput) -> None:
    for field, errors in exc.details.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    if not exc.details:
        form.add_error(None, exc.message)


@login_required
def article_detail(request, pk: int):
    """One article: the working copy, the version agents see, and the workflow buttons."""
    article = _visible_article(request, pk)
    actor = as_actor(request.user)
    live = article.live_version() if article.live else None
    return render(
        request,
        "knowledge/article_detail.html",
        {
            "article": article,
            "live": live,
            # a published article being revised: agents still get the live version
            "revising": live is not None and article.state in {ArticleState.DRAFT, ArticleState.IN_REVIEW},
            "allowed": _allowed_actions(article, actor),
            "reject_form": ReasonForm(),
            # agents read what is published; editors read their working copy
            "show_working_copy": actor.role != Role.AGENT,
        },
    )


@login_required
def article_history(request, pk: int):
    """版本历史: every published version with its diff against the one before."""
    article = _visible_article(request, pk)
    versions = []
    for version in article.versions.select_related("published_by", "category", "department").order_by("-number"):
        lines = []
        for line in version.diff.splitlines():
            if line.startswith(("+++", "---")):
                kind = "file"
            elif line.startswith("@@"):
                kind = "hunk"
            elif line.startswith("+"):
                kind = "added"
            elif line.startswith("-"):
                kind = "removed"
            else:
                kind = "context"
            lines.append((kind, line))
        versions.append((version, lines))
    return render(request, "knowledge/article_history.html", {"article": article, "versions": versions})


WORKFLOW = {
    "submit": (lambda a, r, form: actions.submit_article(a, by=r.user), _("已提交审核")),
    "approve": (lambda a, r, form: actions.approve_article(a, by=r.user, note=r.POST.get("note", "")), _("已审核通过并发布")),
    "reject": (lambda a, r, form: actions.reject_article(a, by=r.user, reason=form.cleaned_data["reason"]), _("已退回修改")),
    "confirm": (lambda a, r, form: actions.confirm_article(a, by=r.user), _("已复核，内容仍然有效")),
    "archive": (lambda a, r, form: actions.archive_article(a, by=r.user), _("已归档")),
    "restore": (lambda a, r, form: actions.restore_article(a, by=r.user), _("已恢复为草稿")),
}


@login_required
@require_POST
def article_action(request, pk: int, action: str):
    """One workflow step, pressed as a button (POST with CSRF)."""
    if action not in WORKFLOW:
        raise Http404
    article = _visible_article(request, pk)
    step, done = WORKFLOW[action]
    form = None
    if action == "reject":
        form = ReasonForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("请填写退回原因"))
            return _back(request, article)
    try:
        step(article, request, form)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except KnowledgeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return _back(request, article)


def _back(request, article: Article):
    """Back to the page the button was on (only pages of this room), else to the article."""
    next_url = request.POST.get("next", "")
    if next_url.startswith("/knowledge/") and "//" not in next_url and "\\" not in next_url:
        return redirect(next_url)
    return redirect("knowledge-article", pk=article.pk)
