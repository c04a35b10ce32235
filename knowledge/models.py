"""The knowledge base: articles with a review workflow, validity, and every published version kept.

An article is written by the staff of its owning department and approved
(published) by the hotline's dispatch desk (派单员 / 督办). Search always
serves the article's latest *published version*, so revising a published
article takes nothing away from agents until the revision is approved.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from routing.models import Category, Department
from routing.roles import Actor, Role


class ArticleState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    IN_REVIEW = "in_review", _("待审核")
    PUBLISHED = "published", _("已发布")
    ARCHIVED = "archived", _("已归档")


# --- who may act (permissions receive a routing.roles.Actor) -------------------
REVIEWER_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})


def is_owner_staff(article: "Article", actor: Actor) -> bool:
    """Staff of the department that owns the article (the system acts for the demo loader)."""
    if actor.role == Role.SYSTEM:
        return True
    return actor.role == Role.DEPARTMENT and actor.department is not None and actor.department.pk == article.department_id


def is_reviewer(article: "Article", actor: Actor) -> bool:
    """The hotline's dispatch desk approves what departments write."""
    return actor.role in REVIEWER_ROLES or actor.role == Role.SYSTEM


def is_owner_or_reviewer(article: "Article", actor: Actor) -> bool:
    return is_owner_staff(article, actor) or is_reviewer(article, actor)


class ArticleQuerySet(models.QuerySet):
    def live(self):
        """Articles agents can find: published at least once and not archived."""
        return self.filter(live=True)

    def valid_on(self, day: date):
        """Articles whose validity period includes ``day`` (open ends count as valid)."""
        return self.filter(Q(valid_from__isnull=True) | Q(valid_from__lte=day), Q(valid_until__isnull=True) | Q(valid_until__gte=day))

    def stale(self, now=None):
        """Live articles not reviewed for ``KNOWLEDGE_STALE_DAYS``."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.KNOWLEDGE_STALE_DAYS)
        return self.live().filter(Q(reviewed_at__isnull=True) | Q(reviewed_at__lt=cutoff))

    def visible_to(self, actor: Actor):
        """What an actor sees in the editor pages: reviewers everything, department staff
        their department's articles, agents what is live."""
        if actor.role in REVIEWER_ROLES or actor.role == Role.SYSTEM:
            return self
        if actor.role == Role.DEPARTMENT and actor.department is not None:
            return self.filter(department=actor.department)
        if actor.role == Role.AGENT:
            return self.live()
        return self.none()


class Article(ConcurrentTransitionMixin, models.Model):
    """知识条目: a policy, procedure, department duty or service item."""

    slug = models.SlugField(_("标识"), max_length=120, unique=True)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文（Markdown）"), max_length=50000)
    body_html = models.TextField(editable=False, blank=True)
    category = models.ForeignKey(Category, verbose_name=_("分类"), on_delete=models.PROTECT, related_name="articles")
    department = models.ForeignKey(Department, verbose_name=_("责任单位"), on_delete=models.PROTECT, related_name="articles")
    keywords = models.CharField(_("关键词"), max_length=300, blank=True, help_text=_("以空格或逗号分隔"))
    valid_from = models.DateField(_("生效日期"), null=True, blank=True)
    valid_until = models.DateField(_("失效日期"), null=True, blank=True)

    state = FSMField(_("状态"), default=ArticleState.DRAFT, choices=ArticleState.choices, protected=True, db_index=True)
    published_version = models.PositiveIntegerField(_("已发布版本"), default=0, editable=False)
    # Agents find the article: set when a version is approved, cleared by archiving.
    # A published article being revised stays live with its last approved version.
    live = models.BooleanField(_("可检索"), default=False, editable=False, db_index=True)
    submitted_at = models.DateTimeField(_("提交审核时间"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("最近审核时间"), null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    review_note = models.TextField(_("审核意见"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("知识条目")
        verbose_name_plural = _("知识条目")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="article_validity_ordered",
            )
        ]
        indexes = [models.Index(fields=["department", "state"], name="article_dept_state")]

    def __str__(self) -> str:
        return self.title

    # --- derived -----------------------------------------------------------------
    @property
    def is_stale(self) -> bool:
        """Live but not reviewed for ``KNOWLEDGE_STALE_DAYS`` (待复核)."""
        if not self.live:
            return False
        cutoff = timezone.now() - timedelta(days=settings.KNOWLEDGE_STALE_DAYS)
        return self.reviewed_at is None or self.reviewed_at < cutoff

    def is_valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_until is None or self.valid_until >= day)

    @property
    def is_expired(self) -> bool:
        return self.valid_until is not None and self.valid_until < timezone.localdate()

    def keyword_list(self) -> list[str]:
        return [k for k in re.split(r"[\s,，、;；]+", self.keywords) if k]

    def live_version(self) -> "ArticleVersion | None":
        if self.published_version == 0:
            return None
        return self.versions.filter(number=self.published_version).first()

    # --- transitions: bodies only change fields; knowledge.actions does the rest -----
    @transition(field="state", source=ArticleState.DRAFT, target=ArticleState.IN_REVIEW, permission=is_owner_staff)
    def submit(self, *, at):
        """提交审核."""
        self.submitted_at = at
        self.review_note = ""

    @transition(field="state", source=ArticleState.IN_REVIEW, target=ArticleState.PUBLISHED, permission=is_reviewer)
    def approve(self, *, by_user, at, version: int, note: str):
        """审核通过并发布: the content becomes version ``version``."""
        self.reviewed_at = at
        self.reviewed_by = by_user
        self.review_note = note
        self.published_version = version
        self.live = True

    @transition(field="state", source=ArticleState.IN_REVIEW, target=ArticleState.DRAFT, permission=is_reviewer)
    def reject(self, *, by_user, reason: str):
        """审核退回, with the reason the department reads."""
        self.review_note = reason
        self.reviewed_by = by_user

    @transition(field="state", source=ArticleState.PUBLISHED, target=ArticleState.DRAFT, permission=is_owner_staff)
    def revise(self):
        """修订: a published article is edited; the published version stays live meanwhile."""

    @transition(
        field="state",
        source=[ArticleState.DRAFT, ArticleState.IN_REVIEW, ArticleState.PUBLISHED],
        target=ArticleState.ARCHIVED,
        permission=is_owner_or_reviewer,
    )
    def archive(self):
        """归档: no longer found by search; its versions are kept."""
        self.live = False

    @transition(field="state", source=ArticleState.ARCHIVED, target=ArticleState.DRAFT, permission=is_owner_or_reviewer)
    def restore(self):
        """恢复为草稿, to be reviewed again before it is found."""


class ArticleVersion(models.Model):
    """One published version of an article, with a unified diff against the one before."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("版本号"))
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文（Markdown）"))
    body_html = models.TextField()
    category = models.ForeignKey(Category, verbose_name=_("分类"), on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, verbose_name=_("责任单位"), on_delete=models.PROTECT, related_name="+")
    keywords = models.CharField(_("关键词"), max_length=300, blank=True)
    valid_from = models.DateField(_("生效日期"), null=True, blank=True)
    valid_until = models.DateField(_("失效日期"), null=True, blank=True)
    diff = models.TextField(_("与上一版本的差异"), blank=True)
    published_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["article", "-number"]
        verbose_name = _("知识条目版本")
        verbose_name_plural = _("知识条目版本")
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="article_version_unique")]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"

    def keyword_list(self) -> list[str]:
        return [k for k in re.split(r"[\s,，、;；]+", self.keywords) if k]
