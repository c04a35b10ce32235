"""Named actions on knowledge articles: one function per thing a person does.

Each runs in ``transaction.atomic()`` on a locked row: it checks who may act
(403) and whether the article's state allows it (409), calls the FSM
transition, saves, and queues the search-index update in the outbox, so the
index changes only after commit.

Department staff write their own department's articles; the hotline's
dispatch desk (派单员 / 督办) approves them. Approval publishes a new
``ArticleVersion`` with a unified diff against the previous one.
"""

from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, can_proceed

from knowledge import markup
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.models import Article, ArticleState, ArticleVersion, is_owner_or_reviewer, is_owner_staff, is_reviewer
from routing import outbox
from routing.models import Category, Department, User
from routing.roles import SYSTEM, Actor, Role, as_actor

SEARCH_KIND = "search.article"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,118}$")

# Who may call each transition (the same functions the FSM checks).
PERMISSIONS = {
    "submit": is_owner_staff,
    "approve": is_reviewer,
    "reject": is_reviewer,
    "revise": is_owner_staff,
    "archive": is_owner_or_reviewer,
    "restore": is_owner_or_reviewer,
}


@dataclass
class ArticleContent:
    """What an author writes; ``clean()`` checks all of it before anything is saved."""

    title: str
    body: str
    category: Category | None
    keywords: str = ""
    valid_from: date | None = None
    valid_until: date | None = None

    def clean(self) -> "ArticleContent":
        errors: dict[str, list[str]] = {}
        self.title = (self.title or "").strip()
        self.body = (self.body or "").strip()
        self.keywords = " ".join(re.split(r"[\s,，、;；]+", (self.keywords or "").strip())).strip()
        if not self.title:
            errors["title"] = [_("请填写标题")]
        elif len(self.title) > 200:
            errors["title"] = [_("标题最多 200 字")]
        if not self.body:
            errors["body"] = [_("请填写正文")]
        elif len(self.body) > 50000:
            errors["body"] = [_("正文最多 50000 字")]
        if self.category is None:
            errors["category"] = [_("请选择分类")]
        if len(self.keywords) > 300:
            errors["keywords"] = [_("关键词最多 300 字")]
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, date):
                errors[name] = [_("日期格式不正确")]
        if not errors and self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            errors["valid_until"] = [_("失效日期不能早于生效日期")]
        if errors:
            raise InvalidInput(_("知识条目内容有误"), details=errors)
        return self


def _user(actor: Actor) -> User | None:
    return actor.user


def _enqueue_index(article: Article) -> None:
    # A fresh key per change: the same key twice would be one (already delivered) message.
    outbox.enqueue(SEARCH_KIND, {"article_id": article.pk}, key=f"{SEARCH_KIND}:{article.pk}:{uuid.uuid4().hex}")


def _check(article: Article, name: str, actor: Actor) -> None:
    if not PERMISSIONS[name](article, actor):
        if actor.role == Role.DEPARTMENT:
            raise NotAllowed(_("只能处理本单位的知识条目"), code="forbidden_department")
        raise NotAllowed(_("角色「%(role)s」不能执行「%(action)s」") % {"role": actor.role or "-", "action": name}, code="forbidden_role")
    if not can_proceed(getattr(article, name)):
        raise Conflict(
            _("知识条目当前状态为「%(state)s」，不能执行「%(action)s」") % {"state": article.get_state_display(), "action": name},
            code="invalid_state",
            details={"state": article.state, "transition": name},
        )


def _perform(article: Article, name: str, *, actor: Actor, apply, after=None) -> Article:
    """Run transition ``name`` on a locked copy of ``article``; ``after(locked)`` runs in the same transaction."""
    try:
        with transaction.atomic():
            locked = Article.objects.select_for_update().get(pk=article.pk)
            _check(locked, name, actor)
            apply(locked)
            locked.updated_by = _user(actor) or locked.updated_by
            locked.save()
            if after is not None:
                after(locked)
    except ConcurrentTransition as exc:
        raise Conflict(_("知识条目已被他人同时处理，请刷新后重试"), code="concurrent_change") from exc
    return locked


def _new_slug() -> str:
    return f"kb-{timezone.localdate():%Y%m%d}-{uuid.uuid4().hex[:8]}"


def _apply_content(article: Article, content: ArticleContent) -> None:
    article.title = content.title
    article.body = content.body
    article.body_html = markup.render(content.body)
    article.category = content.category
    article.keywords = content.keywords
    article.valid_from = content.valid_from
    article.valid_until = content.valid_until


# --- writing (承办单位) ----------------------------------------------------------
def create_article(*, content: ArticleContent, by: User | Actor, department: Department | None = None, slug: str | None = None) -> Article:
    """Write a new draft for the author's own department (the system may name any department)."""
    actor = as_actor(by)
    if actor.role == Role.SYSTEM:
        if department is None:
            raise InvalidInput(_("请指定责任单位"), details={"department": [_("不能为空")]})
    elif actor.role == Role.DEPARTMENT and actor.department is not None:
        if department is not None and department.pk != actor.department.pk:
            raise NotAllowed(_("只能为本单位编写知识条目"), code="forbidden_department")
        department = actor.department
    else:
        raise NotAllowed(_("只有承办单位工作人员可以编写知识条目"), code="forbidden_role")
    content = content.clean()
    slug = (slug or "").strip() or _new_slug()
    if not _SLUG.match(slug):
        raise InvalidInput(_("标识只能包含小写字母、数字和连字符"), details={"slug": [_("格式不正确")]})
    if Article.objects.filter(slug=slug).exists():
        raise InvalidInput(_("标识已被使用"), details={"slug": [_("已存在")]})
    article = Article(slug=slug, department=department, created_by=_user(actor), updated_by=_user(actor))
    _apply_content(article, content)
    article.save()
    return article


def update_article(article: Article, *, content: ArticleContent, by: User | Actor) -> Article:
    """Edit a draft; editing a published article starts a revision (修订), its published version stays live."""
    actor = as_actor(by)
    content = content.clean()
    try:
        with transaction.atomic():
            locked = Article.objects.select_for_update().get(pk=article.pk)
            if not is_owner_staff(locked, actor):
                raise NotAllowed(_("只能修改本单位的知识条目"), code="forbidden_department")
            if locked.state == ArticleState.PUBLISHED:
                locked.revise()
            elif locked.state != ArticleState.DRAFT:
                raise Conflict(
                    _("知识条目当前状态为「%(state)s」，不能修改") % {"state": locked.get_state_display()},
                    code="invalid_state",
                    details={"state": locked.state, "transition": "edit"},
                )
            _apply_content(locked, content)
            locked.updated_by = _user(actor) or locked.updated_by
            locked.save()
    except ConcurrentTransition as exc:
        raise Conflict(_("知识条目已被他人同时处理，请刷新后重试"), code="concurrent_change") from exc
    return locked


def submit_article(article: Article, *, by: User | Actor) -> Article:
    """提交审核: the department hands its draft to the hotline."""
    actor = as_actor(by)
    now = timezone.now()
    return _perform(article, "submit", actor=actor, apply=lambda a: a.submit(at=now))


# --- reviewing (派单员 / 督办) ------------------------------------------------------
def _version_text(*, title: str, category: Category, department: Department, keywords: str, valid_from, valid_until, body: str) -> list[str]:
    """The lines a version diff compares: the metadata a reader cares about, then the body."""
    validity = f"{valid_from or '—'} ~ {valid_until or '—'}"
    return [
        _("标题：%(v)s") % {"v": title},
        _("分类：%(v)s") % {"v": category.full_name()},
        _("责任单位：%(v)s") % {"v": department.name},
        _("关键词：%(v)s") % {"v": keywords},
        _("有效期：%(v)s") % {"v": validity},
        "",
        *body.splitlines(),
    ]


def version_diff(previous: ArticleVersion | None, article: Article, number: int) -> str:
    """Unified diff of ``article``'s content against ``previous`` (against nothing for version 1)."""
    before = (
        _version_text(
            title=previous.title, category=previous.category, department=previous.department, keywords=previous.keywords,
            valid_from=previous.valid_from, valid_until=previous.valid_until, body=previous.body,
        )
        if previous is not None
        else []
    )  # fmt: skip
    after = _version_text(
        title=article.title, category=article.category, department=article.department, keywords=article.keywords,
        valid_from=article.valid_from, valid_until=article.valid_until, body=article.body,
    )  # fmt: skip
    from_name = f"v{previous.number}" if previous is not None else "v0"
    return "\n".join(difflib.unified_diff(before, after, fromfile=from_name, tofile=f"v{number}", lineterm=""))


def approve_article(article: Article, *, by: User | Actor, note: str = "") -> Article:
    """审核通过并发布: the content becomes a new published version, found by search after commit."""
    actor = as_actor(by)
    now = timezone.now()
    note = (note or "").strip()[:2000]

    def apply(locked: Article) -> None:
        number = locked.published_version + 1
        previous = locked.versions.filter(number=locked.published_version).first() if locked.published_version else None
        ArticleVersion.objects.create(
            article=locked,
            number=number,
            title=locked.title,
            body=locked.body,
            body_html=locked.body_html,
            category=locked.category,
            department=locked.department,
            keywords=locked.keywords,
            valid_from=locked.valid_from,
            valid_until=locked.valid_until,
            diff=version_diff(previous, locked, number),
            published_at=now,
            published_by=_user(actor),
            submitted_by=locked.updated_by,
        )
        locked.approve(by_user=_user(actor), at=now, version=number, note=note)

    return _perform(article, "approve", actor=actor, apply=apply, after=_enqueue_index)


def reject_article(article: Article, *, by: User | Actor, reason: str) -> Article:
    """审核退回: back to the department as a draft, with the reason."""
    actor = as_actor(by)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("请填写退回原因"), details={"reason": [_("不能为空")]})
    if len(reason) > 2000:
        raise InvalidInput(_("退回原因最多 2000 字"), details={"reason": [_("过长")]})
    return _perform(article, "reject", actor=actor, apply=lambda a: a.reject(by_user=_user(actor), reason=reason))


def confirm_article(article: Article, *, by: User | Actor) -> Article:
    """复核: the dispatch desk confirms a published article is still current (clears the stale flag)."""
    actor = as_actor(by)
    with transaction.atomic():
        locked = Article.objects.select_for_update().get(pk=article.pk)
        if not is_reviewer(locked, actor):
            raise NotAllowed(_("只有派单员或督办可以复核知识条目"), code="forbidden_role")
        if locked.state != ArticleState.PUBLISHED:
            raise Conflict(
                _("只有已发布的知识条目可以复核"), code="invalid_state", details={"state": locked.state, "transition": "confirm"}
            )
        locked.reviewed_at = timezone.now()
        locked.reviewed_by = _user(actor)
        locked.save(update_fields=["reviewed_at", "reviewed_by", "updated_at"])
        _enqueue_index(locked)
    return locked


def archive_article(article: Article, *, by: User | Actor) -> Article:
    """归档: taken out of search after commit; every version is kept."""
    return _perform(article, "archive", actor=as_actor(by), apply=lambda a: a.archive(), after=_enqueue_index)


def restore_article(article: Article, *, by: User | Actor) -> Article:
    """恢复: an archived article becomes a draft again, to be reviewed before it is found."""
    return _perform(article, "restore", actor=as_actor(by), apply=lambda a: a.restore())


# --- the demo loader's upsert ----------------------------------------------------
def import_published_article(
    *, slug: str, content: ArticleContent, department: Department, by: Actor = SYSTEM
) -> tuple[Article, bool]:
    """Create or update the article ``slug`` and publish it through the ordinary steps.

    Returns ``(article, changed)``; an article whose live version already has
    this content is left alone, so loading twice changes nothing.
    """
    content = content.clean()
    article = Article.objects.filter(slug=slug).first()
    if article is None:
        article = create_article(content=content, by=by, department=department, slug=slug)
    else:
        live = article.live_version() if article.live else None
        if (
            live is not None
            and article.state == ArticleState.PUBLISHED
            and article.department_id == department.pk
            and (live.title, live.body, live.category_id, live.keywords, live.valid_from, live.valid_until)
            == (content.title, content.body, content.category.pk, content.keywords, content.valid_from, content.valid_until)
        ):
            return article, False
        if article.state == ArticleState.IN_REVIEW:
            article = reject_article(article, by=by, reason=_("由导入数据更新"))
        elif article.state == ArticleState.ARCHIVED:
            article = restore_article(article, by=by)
        if article.department_id != department.pk:
            Article.objects.filter(pk=article.pk).update(department=department)
            article.refresh_from_db()
        article = update_article(article, content=content, by=by)
    article = submit_article(article, by=by)
    article = approve_article(article, by=by)
    return article, True
