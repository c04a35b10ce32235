"""The vocabularies of a ticket: channels, types, urgency, states, satisfaction, event kinds."""

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


class EventKind(models.TextChoices):
    """What a step of a ticket's timeline (``TicketEvent.kind``) records, labelled as staff read it.
    A transition names its kind in its metadata (``routing.machine``); the others are events only."""

    # written by intake and by the transitions of routing.machine
    REGISTERED = "ticket.registered", _("受理登记")
    RESOLVED = "ticket.resolved", _("直接办结")
    DECLINED = "ticket.declined", _("不予受理")
    TRANSFERRED = "ticket.transferred", _("移交")
    DISPATCHED = "ticket.dispatched", _("派单")
    SUB_DISPATCHED = "ticket.sub_dispatched", _("二级派单")
    ACCEPTED = "ticket.accepted", _("签收")
    RETURN_REQUESTED = "ticket.return_requested", _("申请退单")
    RETURN_APPROVED = "ticket.return_approved", _("同意退单")
    RETURN_REJECTED = "ticket.return_rejected", _("驳回退单")
    EXTENSION_REQUESTED = "ticket.extension_requested", _("申请延期")
    EXTENSION_APPROVED = "ticket.extension_approved", _("同意延期")
    EXTENSION_REJECTED = "ticket.extension_rejected", _("驳回延期")
    REPLIED = "ticket.replied", _("答复")
    REPLY_APPROVED = "ticket.reply_approved", _("答复审核通过")
    REPLY_REJECTED = "ticket.reply_rejected", _("答复被退回")
    CALLBACK = "ticket.callback", _("回访")
    REOPENED = "ticket.reopened", _("重办")
    CLOSED = "ticket.closed", _("办结")
    URGED = "ticket.urged", _("催办")
    SUPERVISED = "ticket.supervised", _("督办")
    MERGED = "ticket.merged", _("并单")
    REPLY_SHARED = "ticket.reply_shared", _("并单答复送达")
    WITHDRAWN = "ticket.withdrawn", _("撤单")
    # events that are not transitions: the state does not change
    NOTE = "ticket.note", _("备注")
    CONTACT_REVEALED = "ticket.contact_revealed", _("查看联系方式")
    RECORDING_PLAYED = "ticket.recording_played", _("收听录音")
    CARD_YELLOW = "ticket.card_yellow", _("黄牌预警")
    CARD_RED = "ticket.card_red", _("红牌超期")
    KPI_EXCLUDED = "ticket.kpi_excluded", _("不纳入考核")
    RATING_EXCLUDED = "ticket.rating_excluded", _("评价不纳入考核")
    CARD_EXCLUDED = "ticket.card_excluded", _("红牌不纳入考核")
    APPEAL_FILED = "ticket.appeal_filed", _("申请复核")
    APPEAL_UPHELD = "ticket.appeal_upheld", _("复核申诉成立")
    APPEAL_REJECTED = "ticket.appeal_rejected", _("复核申诉驳回")
    TRANSFER_REFERENCE = "ticket.transfer_reference", _("登记对方编号")
    # written by the channels (services): what the citizen sent, and the call put through
    CHAT_TRANSCRIPT = "ticket.chat_transcript", _("在线咨询记录")
    VOICEMAIL = "ticket.voicemail", _("电话留言")
    TRANSCRIPTION = "ticket.transcription", _("留言转写")
    SMS_MEDIA = "ticket.sms_media", _("短信附件")
    CALL_TRANSFERRED = "ticket.call_transferred", _("来电转接")
