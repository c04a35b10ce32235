"""What the phone channels leave behind: one row per call, one row per SMS.

Phone numbers are kept twice: the number itself (for the agent who calls
back) and its keyed digest (``routing.models.phone_digest``), which is what
lookups use, so no query or log line needs the number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CallRecord(models.Model):
    """通话记录: one Twilio call (CallSid), its path through the menu, and the ticket it produced."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队")
        RINGING = "ringing", _("振铃")
        IN_PROGRESS = "in-progress", _("通话中")
        COMPLETED = "completed", _("已结束")
        BUSY = "busy", _("忙线")
        FAILED = "failed", _("失败")
        NO_ANSWER = "no-answer", _("无应答")
        CANCELED = "canceled", _("已取消")

        @classmethod
        def final(cls) -> frozenset[str]:
            return frozenset({cls.COMPLETED, cls.BUSY, cls.FAILED, cls.NO_ANSWER, cls.CANCELED})

    class Menu(models.TextChoices):
        INQUIRY = "1", _("咨询")
        HELP = "2", _("求助/投诉/举报")
        TRACK = "3", _("查询工单进度")
        AGENT = "0", _("人工服务")

    call_sid = models.CharField(_("通话标识"), max_length=64, unique=True)
    from_number = models.CharField(_("主叫号码"), max_length=64, blank=True)
    from_digest = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    to_number = models.CharField(_("被叫号码"), max_length=64, blank=True)
    direction = models.CharField(_("方向"), max_length=32, blank=True)
    status = models.CharField(_("通话状态"), max_length=16, choices=Status.choices, blank=True)
    menu_choice = models.CharField(_("菜单选择"), max_length=1, choices=Menu.choices, blank=True)

    answered = models.BooleanField(_("已接通话务员"), default=False)
    answered_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("话务员"), null=True, blank=True, on_delete=models.SET_NULL, related_name="telephony_calls"
    )
    queue_time = models.PositiveIntegerField(_("排队时长（秒）"), null=True, blank=True)
    duration = models.PositiveIntegerField(_("通话时长（秒）"), null=True, blank=True)

    recording_sid = models.CharField(_("录音标识"), max_length=64, blank=True)
    recording_url = models.URLField(_("录音地址"), max_length=500, blank=True)
    recording_duration = models.PositiveIntegerField(_("录音时长（秒）"), null=True, blank=True)
    recording_status = models.CharField(_("录音状态"), max_length=16, blank=True)
    transcription_sid = models.CharField(_("转写标识"), max_length=64, blank=True)
    transcription_text = models.TextField(_("录音转写"), blank=True)
    transcription_status = models.CharField(_("转写状态"), max_length=16, blank=True)
    # The transcription becomes a note on the ticket exactly once, whichever arrives first.
    transcription_noted = models.BooleanField(default=False, editable=False)

    # 漏接回拨: a call that ended unanswered (services/telephony/callbacks.py) is due a call back.
    class CallbackResult(models.TextChoices):
        REACHED = "reached", _("已回拨接通")
        UNREACHED = "unreached", _("回拨未接通")
        NOT_NEEDED = "not_needed", _("无需回拨")

    callback_due_at = models.DateTimeField(_("回拨时限"), null=True, blank=True, db_index=True)
    callback_done_at = models.DateTimeField(_("回拨时间"), null=True, blank=True)
    callback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("回拨人"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    callback_result = models.CharField(_("回拨结果"), max_length=16, choices=CallbackResult.choices, blank=True)
    callback_note = models.CharField(_("回拨说明"), max_length=500, blank=True)

    ticket = models.ForeignKey("routing.Ticket", verbose_name=_("工单"), null=True, blank=True, on_delete=models.PROTECT, related_name="calls")
    citizen = models.ForeignKey("routing.Citizen", verbose_name=_("诉求人"), null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("通话记录")
        verbose_name_plural = _("通话记录")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["recording_sid"], condition=~Q(recording_sid=""), name="call_unique_recording_sid"),
        ]

    def __str__(self) -> str:
        return self.call_sid


class SmsMessage(models.Model):
    """短信: an inbound message (deduplicated by MessageSid) or an outbound one (by its outbox key)."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("收到")
        OUTBOUND = "out", _("发出")

    class Status(models.TextChoices):
        RECEIVED = "received", _("已收到")
        PENDING = "pending", _("待发送")
        # A request went to Twilio and its outcome is unknown: look it up before sending again.
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")

    direction = models.CharField(_("方向"), max_length=3, choices=Direction.choices)
    message_sid = models.CharField(_("短信标识"), max_length=64, unique=True, null=True, blank=True)
    from_number = models.CharField(_("发送号码"), max_length=64, blank=True)
    to_number = models.CharField(_("接收号码"), max_length=64, blank=True)
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True, editable=False, help_text=_("Digest of the citizen's side."))
    body = models.TextField(_("内容"), blank=True)
    num_media = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices)
    ticket = models.ForeignKey("routing.Ticket", verbose_name=_("工单"), null=True, blank=True, on_delete=models.PROTECT, related_name="sms_messages")
    citizen = models.ForeignKey("routing.Citizen", verbose_name=_("诉求人"), null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages")
    reply = models.TextField(_("自动回复"), blank=True, help_text=_("What we answered to an inbound message; repeated to a Twilio retry."))

    template = models.CharField(_("模板"), max_length=16, blank=True)
    outbox_key = models.CharField(max_length=160, unique=True, null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_status = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("短信")
        verbose_name_plural = _("短信")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message_sid or f"sms#{self.pk}"
