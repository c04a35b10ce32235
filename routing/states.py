"""The vocabularies of a ticket: channels, types, urgency, states, satisfaction."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    PHONE = "phone", _("电话")
    SMS = "sms", _("短信")
    CHAT = "chat", _("在线咨询")
    WEB = "web", _("网站")
    OPEN311 = "open311", _("Open311 接口")
    WALK_IN = "walk_in", _("现场")


class TicketType(models.TextChoices):
    INQUIRY = "inquiry", _("咨询")
    HELP = "help", _("求助")
    COMPLAINT = "complaint", _("投诉")
    REPORT = "report", _("举报")
    SUGGESTION = "suggestion", _("建议")
    PRAISE = "praise", _("表扬")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")
    CRITICAL = "critical", _("特急")


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("满意")
    BASICALLY_SATISFIED = "basically_satisfied", _("基本满意")
    UNSATISFIED = "unsatisfied", _("不满意")


class State(models.TextChoices):
    REGISTERED = "registered", _("待派单")
    DISPATCHED = "dispatched", _("待签收")
    ACCEPTED = "accepted", _("办理中")
    RETURN_REQUESTED = "return_requested", _("退单审核中")
    REPLIED = "replied", _("答复待审核")
    REPLY_APPROVED = "reply_approved", _("待回访")
    RATED = "rated", _("已回访")
    CLOSED = "closed", _("已办结")
    DECLINED = "declined", _("不予受理")
    WITHDRAWN = "withdrawn", _("已撤单")
    MERGED = "merged", _("已并单")
    TRANSFERRED = "transferred", _("已移交")

    @classmethod
    def running(cls) -> frozenset[str]:
        """States in which a deadline runs against a department."""
        return frozenset({cls.DISPATCHED, cls.ACCEPTED, cls.RETURN_REQUESTED})

    @classmethod
    def final(cls) -> frozenset[str]:
        return frozenset({cls.CLOSED, cls.DECLINED, cls.WITHDRAWN, cls.MERGED, cls.TRANSFERRED})

    @classmethod
    def open_states(cls) -> frozenset[str]:
        return frozenset(s for s in cls.values if s not in cls.final())
