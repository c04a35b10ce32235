"""The ticket and its journey: people, places, departments, the Ticket and its timeline."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField

from routing.machine import TicketMachine
from routing.phones import mask_phone, normalize_phone, phone_digest  # noqa: F401 (the models' API since before routing.phones)
from routing.roles import Role
from routing.states import Channel, EventKind, Satisfaction, State, TicketType, Urgency


class User(AbstractUser):
    """A staff account: agent, dispatcher, department staff or supervisor."""

    STAFF_ROLES = [(r.value, r.label) for r in (Role.AGENT, Role.DISPATCHER, Role.DEPARTMENT, Role.SUPERVISOR)]

    role = models.CharField(_("角色"), max_length=16, choices=STAFF_ROLES, blank=True)
    department = models.ForeignKey(
        "routing.Department", verbose_name=_("所属单位"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    can_reveal_contact = models.BooleanField(_("可查看诉求人联系方式"), default=False)

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")


def path_ids(path: str | None) -> list[int]:
    """The ids of a materialized tree path like ``/3/17/42/``, root first: the one place the path is read
    (``TreeNode.ancestor_ids`` for a node, this for a path read with ``values_list``)."""
    return [int(part) for part in (path or "").strip("/").split("/") if part]


class TreeNode(models.Model):
    """A node of a tree stored with a materialized path, so a subtree is one prefix query."""

    name = models.CharField(_("名称"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=255, db_index=True, editable=False)
    level = models.PositiveSmallIntegerField(editable=False, default=1)

    class Meta:
        abstract = True
        ordering = ["path"]

    def save(self, *args, **kwargs):
        if self.pk is None:
            super().save(*args, **kwargs)  # the path needs our own id
            kwargs = {k: v for k, v in kwargs.items() if k != "force_insert"}
        prefix = self.parent.path if self.parent_id else "/"
        self.path = f"{prefix}{self.pk}/"
        self.level = self.path.count("/") - 1
        super().save(*args, **kwargs)

    def ancestor_ids(self) -> list[int]:
        """Own id and every ancestor's, from the root down."""
        return path_ids(self.path)

    def full_name(self, separator: str = " › ") -> str:
        names = dict(type(self).objects.filter(pk__in=self.ancestor_ids()).values_list("pk", "name"))
        return separator.join(names[pk] for pk in self.ancestor_ids() if pk in names)

    def __str__(self) -> str:
        return self.name


class Category(TreeNode):
    """诉求分类: three levels, e.g. 城乡建设 › 城市建设和市政管理 › 路灯."""

    code = models.CharField(_("编码"), max_length=64, unique=True)

    class Meta(TreeNode.Meta):
        verbose_name = _("诉求分类")
        verbose_name_plural = _("诉求分类")


class Area(TreeNode):
    """Place: city › district › street › grid cell (网格)."""

    class Kind(models.TextChoices):
        CITY = "city", _("市")
        DISTRICT = "district", _("区")
        STREET = "street", _("街道")
        GRID = "grid", _("网格")

    code = models.CharField(_("编码"), max_length=64, unique=True)
    kind = models.CharField(_("层级"), max_length=16, choices=Kind.choices)

    class Meta(TreeNode.Meta):
        verbose_name = _("区域")
        verbose_name_plural = _("区域")


class Department(models.Model):
    """承办单位: a bureau or company (level 2) or a unit below it (level 3)."""

    code = models.SlugField(_("编码"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=100, unique=True)
    parent = models.ForeignKey("self", verbose_name=_("上级单位"), null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    area = models.ForeignKey(Area, verbose_name=_("辖区"), null=True, blank=True, on_delete=models.PROTECT)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("承办单位")
        verbose_name_plural = _("承办单位")

    def __str__(self) -> str:
        return self.name


class EmergencyLine(models.Model):
    """联动单位: an emergency line (110 公安, 119 消防, 120 急救, 122 交警) and the matters it takes.

    The transfer list is data: supervisors keep it in the admin. ``phone`` is the number a live call
    is dialled to when an agent transfers it; ``keywords`` suggest the line while a matter is typed.
    """

    code = models.CharField(_("编号"), max_length=8, unique=True, help_text=_("如 110、119、120、122"))
    name = models.CharField(_("名称"), max_length=50, unique=True)
    phone = models.CharField(_("转接号码"), max_length=32, help_text=_("移交来电时拨打的号码"))
    matters = models.TextField(_("受理事项"), blank=True, help_text=_("每行一项"))
    keywords = models.CharField(_("提示关键词"), max_length=500, blank=True, help_text=_("以空格或逗号分隔，任一命中即提示移交"))
    active = models.BooleanField(_("启用"), default=True)
    ordering = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        ordering = ["ordering", "code"]
        verbose_name = _("联动单位")
        verbose_name_plural = _("联动单位（移交目录）")

    def __str__(self) -> str:
        return self.name

    def matter_list(self) -> list[str]:
        return [line.strip() for line in self.matters.splitlines() if line.strip()]

    def keyword_list(self) -> list[str]:
        return [k for k in re.split(r"[\s,，、]+", self.keywords) if k]


def mask_name(name: str) -> str:
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


class Citizen(models.Model):
    """诉求人, found by phone. The number is looked up by its digest, never by itself."""

    name = models.CharField(_("姓名"), max_length=100, blank=True)
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    phone_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)
    external_id = models.CharField(
        _("原平台用户标识"), max_length=64, unique=True, null=True, blank=True, help_text=_("The user id of an imported platform's export (留言用户).")
    )
    created_at = models.DateTimeField(default=timezone.now)
    anonymized_at = models.DateTimeField(null=True, blank=True)
    demo = models.BooleanField(
        _("演示数据"), default=False, editable=False, help_text=_("A citizen of the demo city (manage.py load_demo): never texted or called.")
    )

    class Meta:
        verbose_name = _("诉求人")
        verbose_name_plural = _("诉求人")

    def __str__(self) -> str:
        return mask_name(self.name) or mask_phone(self.phone) or str(_("匿名"))


# The rows each work queue lists. The selectors filter with these very conditions, so
# PostgreSQL can prove its partial indexes apply and read a page in deadline order.
RUNNING = Q(state__in=sorted(State.running()))
DISPATCHER_WORK = Q(state__in=sorted([State.REGISTERED, State.RETURN_REQUESTED, State.REPLIED])) | Q(state=State.ACCEPTED, extension_pending=True)
CALLBACK_WORK = Q(state__in=sorted([State.REPLY_APPROVED, State.RATED]))
OPEN = Q(state__in=sorted(State.open_states()))
SUPERVISED = OPEN & Q(supervised=True)


class Ticket(TicketMachine, ConcurrentTransitionMixin, models.Model):
    """工单: one model for every channel, moved only by the FSM transitions in ``routing.machine``."""

    number = models.CharField(_("工单号"), max_length=20, unique=True, editable=False)
    channel = models.CharField(_("来源渠道"), max_length=16, choices=Channel.choices)
    channel_ref = models.CharField(_("渠道标识"), max_length=128, blank=True, help_text=_("The channel's own id, e.g. a Twilio CallSid."))
    external_id = models.CharField(
        _("原平台编号"), max_length=64, unique=True, null=True, blank=True, help_text=_("The id of an imported ticket on the platform it came from (留言编号).")
    )
    endorsements = models.PositiveIntegerField(_("点赞数"), default=0, help_text=_("Other citizens who backed this message on a public board."))
    type = models.CharField(_("诉求类型"), max_length=16, choices=TicketType.choices)
    category = models.ForeignKey(Category, verbose_name=_("分类"), null=True, blank=True, on_delete=models.PROTECT)
    urgency = models.CharField(_("紧急程度"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    life_safety = models.BooleanField(_("涉及生命安全"), default=False)
    title = models.CharField(_("标题"), max_length=200, blank=True)
    description = models.TextField(_("诉求内容"), max_length=8000)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    lat = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    lng = models.DecimalField(_("经度"), max_digits=9, decimal_places=6, null=True, blank=True)
    area = models.ForeignKey(Area, verbose_name=_("区域"), null=True, blank=True, on_delete=models.PROTECT)
    citizen = models.ForeignKey(Citizen, verbose_name=_("诉求人"), null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    anonymous = models.BooleanField(_("匿名"), default=False)
    confidential = models.BooleanField(_("要求保密"), default=False)

    state = FSMField(_("状态"), default=State.REGISTERED, choices=State.choices, protected=True, db_index=True)
    registered_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    proposed_department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    proposed_rule = models.ForeignKey("routing.DispatchRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The classifier's proposal for a ticket registered without a category (routing.intelligence).
    proposed_category = models.ForeignKey(Category, verbose_name=_("建议分类"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    proposal_score = models.FloatField(_("建议置信度"), null=True, blank=True)
    proposal_version = models.CharField(max_length=40, blank=True)
    proposal = models.JSONField(default=dict, blank=True, help_text=_("Top categories, type, area, life-safety cues, the words that weighed most."))
    # When staff confirmed the category (dispatched or closed it with one): these tickets teach the classifier.
    category_confirmed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    department = models.ForeignKey(
        Department, verbose_name=_("主办单位"), null=True, blank=True, on_delete=models.PROTECT, related_name="lead_tickets"
    )
    parent_department = models.ForeignKey(
        Department, verbose_name=_("二级派单单位"), null=True, blank=True, on_delete=models.PROTECT, related_name="sub_dispatched_tickets"
    )
    assisting_departments = models.ManyToManyField(Department, verbose_name=_("协办单位"), blank=True, related_name="assisting_tickets")

    registered_at = models.DateTimeField(_("受理时间"), default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    accept_due = models.DateTimeField(_("签收时限"), null=True, blank=True)
    handle_due = models.DateTimeField(_("办结时限"), null=True, blank=True)
    # The deadline that is running now (accept while dispatched, handle while being
    # handled); queues sort by it and the sweep reads it, so it is indexed.
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True, help_text=_("Yellow card point of due_at."))
    yellow_card_at = models.DateTimeField(null=True, blank=True)
    red_card_at = models.DateTimeField(null=True, blank=True)
    # When this handling round's deadline was settled, once: by its first reply, or by the
    # red card if that came first. A dispatch or a reopen starts a new round (the KPIs count rounds).
    handle_settled_at = models.DateTimeField(null=True, blank=True)

    return_until = models.DateTimeField(null=True, blank=True)
    return_reason = models.TextField(blank=True)
    return_from_state = models.CharField(max_length=24, blank=True)
    extension_pending = models.BooleanField(_("延期审批中"), default=False)
    extension_days = models.PositiveSmallIntegerField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    extension_count = models.PositiveSmallIntegerField(default=0)

    reply_founded = models.BooleanField(_("诉求属实"), null=True, blank=True)
    reply_solved = models.BooleanField(_("已解决"), null=True, blank=True)
    reply_text = models.TextField(_("答复内容"), blank=True)
    reply_basis = models.TextField(_("政策依据"), blank=True)
    resolution = models.TextField(_("直接答复"), blank=True)

    callback_reached = models.BooleanField(null=True, blank=True)
    callback_solved = models.BooleanField(null=True, blank=True)
    satisfaction = models.CharField(_("满意度"), max_length=24, choices=Satisfaction.choices, blank=True)
    unsatisfied_count = models.PositiveSmallIntegerField(default=0)
    supervised = models.BooleanField(_("督办中"), default=False)
    urge_count = models.PositiveSmallIntegerField(default=0)
    decline_reason = models.TextField(blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates")
    # 移交 110/119/120/122: the line that took the matter, why, and its own reference (接警/警情号), which may come later.
    transferred_to = models.ForeignKey(
        EmergencyLine, verbose_name=_("移交至"), null=True, blank=True, on_delete=models.PROTECT, related_name="transferred_tickets"
    )
    transfer_reason = models.TextField(_("移交理由"), blank=True)
    transfer_reference = models.CharField(_("对方编号"), max_length=64, blank=True)
    # 110 转 12345: the line that referred a non-emergency matter to us, and its reference (one ticket per reference).
    referred_from = models.ForeignKey(
        EmergencyLine, verbose_name=_("转来单位"), null=True, blank=True, on_delete=models.PROTECT, related_name="referred_tickets"
    )
    referral_reference = models.CharField(_("转来编号"), max_length=64, blank=True)

    kpi_excluded = models.BooleanField(_("不纳入考核"), default=False)
    kpi_exclusion_reason = models.CharField(_("不纳入考核原因"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("工单")
        verbose_name_plural = _("工单")
        ordering = ["-registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "channel_ref"], condition=~Q(channel_ref=""), name="ticket_unique_channel_ref"),
            models.CheckConstraint(condition=Q(kpi_excluded=False) | ~Q(kpi_exclusion_reason=""), name="ticket_kpi_exclusion_has_reason"),
            models.UniqueConstraint(fields=["referred_from", "referral_reference"], condition=Q(referred_from__isnull=False), name="ticket_unique_referral"),
            models.CheckConstraint(condition=Q(referred_from__isnull=True, referral_reference="") | (Q(referred_from__isnull=False) & ~Q(referral_reference="")), name="ticket_referral_has_reference"),
        ]
        indexes = [
            models.Index(fields=["department", "state", "due_at"], name="ticket_dept_queue"),
            models.Index(fields=["parent_department", "state", "due_at"], name="ticket_parent_queue"),
            models.Index(fields=["state", "due_at"], name="ticket_state_due"),
            models.Index(fields=["citizen", "-registered_at"], name="ticket_citizen_recent"),
            models.Index(fields=["state", "warn_at"], name="ticket_state_warn"),
            models.Index(fields=["-registered_at", "-id"], name="ticket_recent"),  # the newest-first list
            models.Index(fields=["department", "-registered_at", "-id"], name="ticket_dept_recent"),  # a department's list
            # Work queues: small (running tickets only), already in the order a page is read, and
            # holding what the queue totals count (state, yellow-card point) so they never read the table.
            models.Index(fields=["department", "due_at", "id"], include=["state", "warn_at"], condition=RUNNING, name="ticket_dept_running"),
            models.Index(fields=["parent_department", "due_at", "id"], include=["state", "warn_at"], condition=RUNNING, name="ticket_parent_running"),
            models.Index(fields=["due_at", "id"], condition=RUNNING, name="ticket_running_due"),
            models.Index(fields=["id"], include=["due_at", "state", "warn_at"], condition=RUNNING, name="ticket_running_id"),  # assisting
            models.Index(fields=["registered_at", "id"], condition=DISPATCHER_WORK, name="ticket_dispatcher_work"),
            models.Index(fields=["replied_at", "id"], condition=CALLBACK_WORK, name="ticket_callback_work"),
            models.Index(fields=["id"], condition=Q(kpi_excluded=True), name="ticket_kpi_excluded"),  # KPIs leave these out
            models.Index(fields=["id"], condition=SUPERVISED, name="ticket_supervised_open"),  # the wallboard counts them
            # Hot spots: registrations of the last days per category and area, without reading the table.
            models.Index(fields=["registered_at"], include=["category", "area"], name="ticket_hotspots"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.due_at < timezone.now() and self.state in State.running()

    @property
    def is_due_soon(self) -> bool:
        now = timezone.now()
        return self.warn_at is not None and self.warn_at <= now and not self.is_overdue and self.state in State.running()


class Attachment(models.Model):
    """A file a citizen attached; served only through a view that checks who asks."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)


class TicketEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("TicketEvent rows are immutable: the timeline is append-only")

    def delete(self):
        raise TypeError("TicketEvent rows are immutable: the timeline is append-only")


class TicketEvent(models.Model):
    """One step of a ticket's timeline (append-only audit). Kinds are namespaced (``ticket.dispatched``): an ``EventKind``."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=48, db_index=True, choices=EventKind.choices)
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_role = models.CharField(max_length=16)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    public = models.BooleanField(default=False, help_text=_("Shown on the citizen's tracking page."))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TicketEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("工单记录")
        verbose_name_plural = _("工单记录")
        indexes = [models.Index(fields=["ticket", "created_at"], name="event_ticket_time"), models.Index(fields=["kind", "created_at"], name="event_kind_time")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("TicketEvent rows are immutable: the timeline is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("TicketEvent rows are immutable: the timeline is append-only")


class KpiDay(models.Model):
    """The KPI counts of one local day for one department × top-level category × district.

    A roll-up of the timeline, written once for each day that is over by
    ``routing.kpis.roll_up`` (the worker runs it) and summed by ``routing.kpis``
    instead of counting those days' events again. The count columns are the
    names of ``routing.kpis.COUNTS``. Every ticket is counted, excluded ones
    too: they are left out when read, so an exclusion never rewrites a day.
    """

    day = models.DateField()
    department = models.ForeignKey(Department, null=True, on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey(Category, null=True, on_delete=models.PROTECT, related_name="+", help_text=_("Top-level category."))
    district = models.ForeignKey(Area, null=True, on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=16, blank=True, help_text=_("The ticket type (诉求类型): satisfaction is assessed per type."))
    registered = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    dispatched = models.PositiveIntegerField(default=0)
    accepted_on_time = models.PositiveIntegerField(default=0)
    replied = models.PositiveIntegerField(default=0)
    replied_on_time = models.PositiveIntegerField(default=0)
    due = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    satisfied = models.PositiveIntegerField(default=0)
    fully_satisfied = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("考核日汇总")
        verbose_name_plural = _("考核日汇总")
        indexes = [models.Index(fields=["day"], name="kpiday_day")]


class KpiRolledDay(models.Model):
    """A day whose ``KpiDay`` rows are written (in the same transaction as the rows)."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("已汇总日期")
        verbose_name_plural = _("已汇总日期")


class DailySequence(models.Model):
    """The last ticket number given out on a day (Asia/Shanghai)."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)


class DispatchRule(models.Model):
    """派单目录: category subtree × area subtree × optional keywords → department."""

    name = models.CharField(_("名称"), max_length=100)
    category = models.ForeignKey(Category, verbose_name=_("分类（含下级）"), null=True, blank=True, on_delete=models.CASCADE)
    area = models.ForeignKey(Area, verbose_name=_("区域（含下级）"), null=True, blank=True, on_delete=models.CASCADE)
    keywords = models.CharField(_("关键词"), max_length=300, blank=True, help_text=_("以空格或逗号分隔，任一命中即可"))
    department = models.ForeignKey(Department, verbose_name=_("承办单位"), on_delete=models.CASCADE)
    priority = models.IntegerField(_("优先级"), default=0)
    automatic = models.BooleanField(_("自动派单"), default=False)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["-priority", "id"]
        verbose_name = _("派单规则")
        verbose_name_plural = _("派单规则")

    def __str__(self) -> str:
        return self.name

    def keyword_list(self) -> list[str]:
        return [k for k in re.split(r"[\s,，、]+", self.keywords) if k]


class DeadlinePolicy(models.Model):
    """Time limits for a ticket type and urgency; missing rows fall back to DOMAIN.md's defaults."""

    class Unit(models.TextChoices):
        WORKING_DAYS = "working_days", _("工作日")
        HOURS = "hours", _("小时")
        MINUTES = "minutes", _("分钟")

    type = models.CharField(_("诉求类型"), max_length=16, choices=TicketType.choices, blank=True, help_text=_("空 = 所有类型"))
    urgency = models.CharField(_("紧急程度"), max_length=16, choices=Urgency.choices)
    accept_limit = models.PositiveIntegerField(_("签收时限"))
    accept_unit = models.CharField(max_length=16, choices=Unit.choices)
    handle_limit = models.PositiveIntegerField(_("办结时限"))
    handle_unit = models.CharField(max_length=16, choices=Unit.choices)

    class Meta:
        verbose_name = _("时限规则")
        verbose_name_plural = _("时限规则")
        constraints = [models.UniqueConstraint(fields=["type", "urgency"], name="deadline_policy_unique")]


class CalendarOverride(models.Model):
    """A local working-day exception on top of the State Council schedule."""

    day = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("是否工作日"))
    note = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("工作日调整")
        verbose_name_plural = _("工作日调整")


class OutboxMessage(models.Model):
    """A side effect written in the same transaction as the change that caused it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")
        SKIPPED = "skipped", _("已跳过")

    kind = models.CharField(max_length=48)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=160, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("待发消息")
        verbose_name_plural = _("待发消息")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]


class ClassifierModel(models.Model):
    """One trained version of the intake classifier; the active one is what every process serves."""

    version = models.CharField(_("版本"), max_length=40, unique=True)
    trained_at = models.DateTimeField(_("训练时间"), default=timezone.now)
    examples = models.PositiveIntegerField(_("训练样本数"))
    confirmed_tickets = models.PositiveIntegerField(_("其中确认工单数"), default=0)
    metrics = models.JSONField(_("评估指标"), default=dict, blank=True)
    artifact = models.BinaryField()
    active = models.BooleanField(_("使用中"), default=False)

    class Meta:
        ordering = ["-trained_at", "-id"]
        verbose_name = _("分类模型")
        verbose_name_plural = _("分类模型")
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="classifier_one_active")]

    def __str__(self) -> str:
        return self.version


class IntelligencePolicy(models.Model):
    """The city's settings for learned routing (one row)."""

    auto_dispatch_threshold = models.FloatField(
        _("自动派单置信度阈值"), null=True, blank=True, help_text=_("0–1；为空则不按模型自动派单")
    )
    retrain_min_new = models.PositiveIntegerField(_("重新训练所需新确认工单数"), default=200)
    retrain_every_hours = models.PositiveIntegerField(_("检查重新训练间隔（小时）"), default=24)

    class Meta:
        verbose_name = _("智能分派设置")
        verbose_name_plural = _("智能分派设置")
        constraints = [models.CheckConstraint(condition=Q(auto_dispatch_threshold__isnull=True) | Q(auto_dispatch_threshold__gte=0, auto_dispatch_threshold__lte=1), name="policy_threshold_range")]

    @classmethod
    def current(cls) -> IntelligencePolicy:
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def __str__(self) -> str:
        return str(_("智能分派设置"))


class CategoryCorrection(models.Model):
    """A dispatcher filed a ticket under another category than the model proposed."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="category_corrections")
    proposed = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    chosen = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    model_version = models.CharField(max_length=40, blank=True)
    topic_changed = models.BooleanField(help_text=_("The chosen category is under another top-level topic."))
    by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("分类纠正")
        verbose_name_plural = _("分类纠正")


class HotIssue(models.Model):
    """热点问题: tickets about one problem, joined incrementally as they arrive (see ``routing.hotissues``)."""

    title = models.CharField(_("标题"), max_length=200)
    keywords = models.JSONField(_("关键词"), default=list, blank=True)
    place = models.CharField(_("地点或人群"), max_length=200, blank=True)
    area = models.ForeignKey(Area, verbose_name=_("区域"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_at = models.DateTimeField(_("首次"))
    last_at = models.DateTimeField(_("最近"))
    count = models.PositiveIntegerField(_("工单数"), default=0)
    callers = models.PositiveIntegerField(_("诉求人数"), default=0)
    endorsements = models.PositiveIntegerField(_("点赞数"), default=0)
    days = models.JSONField(default=dict, blank=True, help_text=_("Members per day (Asia/Shanghai): the trend, growth and concentration."))
    centroid = models.BinaryField(help_text=_("Summed member signatures, the strongest terms only."))
    heat = models.FloatField(_("热度"), default=0.0, help_text=_("The heat index as of the last member."))
    notified_at = models.DateTimeField(null=True, blank=True, help_text=_("When supervisors were told it grows fast (once)."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("热点问题")
        verbose_name_plural = _("热点问题")
        indexes = [
            models.Index(fields=["last_at"], condition=Q(count__gte=2), name="hotissue_recent"),
            models.Index(fields=["-heat"], condition=Q(count__gte=2), name="hotissue_heat"),
        ]

    def __str__(self) -> str:
        return self.title


class HotIssueTerm(models.Model):
    """The strongest terms of an active issue's centroid: the inverted index a new ticket is matched through."""

    issue = models.ForeignKey(HotIssue, on_delete=models.CASCADE, related_name="terms")
    column = models.IntegerField()
    weight = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["column", "issue"], name="hotissue_term_column")]


class TicketSignature(models.Model):
    """A ticket's text signature (its strongest weighted terms) and the hot issue it joined."""

    ticket = models.OneToOneField(Ticket, primary_key=True, on_delete=models.CASCADE, related_name="signature")
    terms = models.BinaryField()
    issue = models.ForeignKey(HotIssue, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    similarity = models.FloatField(default=0.0, help_text=_("Cosine to the issue's centroid when it joined."))
    # The ticket's registration time, kept here so an issue's newest members are read from one index.
    registered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["issue", "-registered_at", "-ticket"], name="signature_issue_time")]


class ReplyReview(models.Model):
    """The review of one department reply (routing.intelligence.review), stored when it was sent;
    ``outcome`` becomes approved or rejected when the dispatcher decides."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("待审核")
        APPROVED = "approved", _("审核通过")
        REJECTED = "rejected", _("退回")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="reply_reviews")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    replied_at = models.DateTimeField()
    relevance = models.FloatField(_("相关性"))
    completeness = models.FloatField(_("完整性"))
    passing = models.FloatField(_("推诿"), default=0.0)
    boilerplate = models.FloatField(_("套话占比"), default=0.0)
    timely = models.BooleanField(null=True)
    flagged = models.BooleanField(_("需关注"), default=False)
    result = models.JSONField(default=dict, help_text=_("The assessment as the API gives it: elements and findings."))
    version = models.CharField(max_length=32)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("答复评估")
        verbose_name_plural = _("答复评估")
        indexes = [
            models.Index(fields=["replied_at", "department"], name="reply_review_period"),  # KPIs per department
            models.Index(fields=["ticket", "-replied_at"], name="reply_review_ticket"),
        ]


class ExportRecord(models.Model):
    """One export of a list or a report (who, what, with which filters, how many rows): the audit of data
    leaving the system. Written before the file is sent; read only in the admin."""

    user = models.ForeignKey(User, verbose_name=_("导出人"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("导出内容"), max_length=32)
    format = models.CharField(_("格式"), max_length=8)
    params = models.JSONField(_("筛选条件"), default=dict, blank=True)
    rows = models.PositiveIntegerField(_("行数"), null=True, blank=True)
    created_at = models.DateTimeField(_("导出时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("导出记录")
        verbose_name_plural = _("导出记录")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}.{self.format} · {self.user} · {timezone.localtime(self.created_at):%Y-%m-%d %H:%M}"


class DispatchDispute(models.Model):
    """派单异议 / 退单申请: a department says a ticket is not its business, citing the catalogue entry
    (派单目录) that makes it someone else's. The dispatch desk upholds it (and may re-dispatch at once,
    改派) or rejects it before ``decide_due``. ``dispatched_rule`` is the catalogue entry behind the
    disputed dispatch, so disputes can be counted per rule; upheld ones propose catalogue changes."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("待裁定")
        UPHELD = "upheld", _("异议成立")
        REJECTED = "rejected", _("异议驳回")
        VOID = "void", _("工单已撤")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="disputes")
    department = models.ForeignKey(Department, verbose_name=_("提出单位"), on_delete=models.PROTECT, related_name="disputes")
    filed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filed_at = models.DateTimeField(_("提出时间"))
    reason = models.TextField(_("理由"))
    dispatched_rule = models.ForeignKey(DispatchRule, verbose_name=_("派单依据"), null=True, blank=True, on_delete=models.SET_NULL, related_name="disputes")
    cited_rule = models.ForeignKey(DispatchRule, verbose_name=_("引用的目录条目"), null=True, blank=True, on_delete=models.SET_NULL, related_name="cited_by")
    suggested_department = models.ForeignKey(Department, verbose_name=_("建议承办单位"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decide_due = models.DateTimeField(_("裁定期限"))
    outcome = models.CharField(_("裁定结果"), max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    decided_at = models.DateTimeField(_("裁定时间"), null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decision_reason = models.TextField(_("裁定说明"), blank=True)
    redispatched_to = models.ForeignKey(Department, verbose_name=_("改派单位"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("派单异议")
        verbose_name_plural = _("派单异议")
        ordering = ["-filed_at", "-id"]
        indexes = [models.Index(fields=["filed_at", "department"], name="dispute_period")]
        constraints = [
            models.UniqueConstraint(fields=["ticket"], condition=Q(outcome="pending"), name="one_pending_dispute_per_ticket"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket.number} · {self.department}"

    @property
    def on_time(self) -> bool | None:
        if self.decided_at is None:
            return None
        return self.decided_at <= self.decide_due

    @property
    def overdue(self) -> bool:
        """Still pending past its decision deadline, or decided after it."""
        if self.outcome == self.Outcome.PENDING:
            return timezone.now() > self.decide_due
        return self.decided_at is not None and self.decided_at > self.decide_due


class KpiSubject(models.TextChoices):
    """What of a ticket's record a department may ask to leave out of its assessment."""

    RATING = "rating", _("满意度评价")
    RED_CARD = "red_card", _("红牌超期")


class KpiAppeal(models.Model):
    """复核申诉: a department asks that a rating (an unsatisfied callback) or a red card (an overdue
    handling round) be reviewed as unfair to it; a supervisor upholds it (the event leaves the
    KPIs: a ``KpiExclusion``) or rejects it before ``decide_due``. One appeal per event."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("待复核")
        UPHELD = "upheld", _("申诉成立")
        REJECTED = "rejected", _("申诉驳回")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="appeals")
    event = models.OneToOneField(TicketEvent, verbose_name=_("申诉事项"), on_delete=models.PROTECT, related_name="appeal")
    subject = models.CharField(_("申诉类型"), max_length=16, choices=KpiSubject.choices)
    department = models.ForeignKey(Department, verbose_name=_("申诉单位"), on_delete=models.PROTECT, related_name="appeals")
    filed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filed_at = models.DateTimeField(_("申诉时间"))
    reason = models.TextField(_("申诉理由"))
    decide_due = models.DateTimeField(_("复核期限"))
    outcome = models.CharField(_("复核结果"), max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    decided_at = models.DateTimeField(_("复核时间"), null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decision_reason = models.TextField(_("复核意见"), blank=True)

    class Meta:
        verbose_name = _("复核申诉")
        verbose_name_plural = _("复核申诉")
        ordering = ["-filed_at", "-id"]
        indexes = [
            models.Index(fields=["filed_at", "department"], name="appeal_period"),
            models.Index(fields=["decide_due"], condition=Q(outcome="pending"), name="appeal_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket.number} · {self.get_subject_display()} · {self.department}"

    @property
    def on_time(self) -> bool | None:
        return None if self.decided_at is None else self.decided_at <= self.decide_due

    @property
    def overdue(self) -> bool:
        if self.outcome == self.Outcome.PENDING:
            return timezone.now() > self.decide_due
        return self.decided_at is not None and self.decided_at > self.decide_due


class KpiExclusion(models.Model):
    """One counted event of a ticket left out of the KPIs, with the reason: a rating a supervisor
    found unreasonable (恶意差评, a demand outside the law…), or a rating or red card whose appeal
    was upheld. The event stays on the timeline; ``routing.kpis`` leaves it out when it counts."""

    event = models.OneToOneField(TicketEvent, on_delete=models.PROTECT, related_name="kpi_exclusion")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="kpi_exclusions")
    subject = models.CharField(_("类型"), max_length=16, choices=KpiSubject.choices)
    reason = models.CharField(_("不纳入考核原因"), max_length=500)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("决定时间"), default=timezone.now)
    appeal = models.OneToOneField(KpiAppeal, null=True, blank=True, on_delete=models.PROTECT, related_name="exclusion")

    class Meta:
        verbose_name = _("不纳入考核事项")
        verbose_name_plural = _("不纳入考核事项")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.ticket.number} · {self.get_subject_display()}"
