"""The public desk's own records: live chats, Open311 integrators and their requests.

Tickets themselves live in ``routing``; these models only keep what a channel
needs beyond the ticket (a chat's messages, who sent an Open311 request).
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_CHAT_MESSAGE = 2000


def new_chat_token() -> str:
    """An unguessable token: the citizen's only credential for their chat."""
    return secrets.token_urlsafe(32)


class ChatSession(models.Model):
    """在线咨询会话: one citizen's conversation with the hotline."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("等待接入")
        ACTIVE = "active", _("接待中")
        CLOSED = "closed", _("已结束")

    token = models.CharField(max_length=64, unique=True, default=new_chat_token, editable=False)
    citizen_name = models.CharField(_("姓名"), max_length=100, blank=True)
    citizen_phone = models.CharField(_("电话"), max_length=32, blank=True)
    confidential = models.BooleanField(
        _("要求保密"), default=False, help_text=_("The citizen asked that the departments not see their name and phone.")
    )
    ticket = models.ForeignKey(
        "routing.Ticket", verbose_name=_("工单"), null=True, blank=True, on_delete=models.PROTECT, related_name="chat_sessions"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("话务员"), null=True, blank=True, on_delete=models.PROTECT, related_name="chat_sessions"
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.WAITING, db_index=True)
    created_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("在线咨询会话")
        verbose_name_plural = _("在线咨询会话")

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()}"

    @property
    def group_name(self) -> str:
        """The channel-layer group every participant of this chat listens to."""
        return f"chat.session.{self.pk}"


class ChatMessage(models.Model):
    """One line of a chat, as it was shown to both sides."""

    class Sender(models.TextChoices):
        CITIZEN = "citizen", _("市民")
        AGENT = "agent", _("话务员")
        SYSTEM = "system", _("系统")

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=16, choices=Sender.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=MAX_CHAT_MESSAGE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("会话消息")
        verbose_name_plural = _("会话消息")


def hash_api_key(raw_key: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough to keep them out of the database."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


class Open311ApiKeyQuerySet(models.QuerySet):
    def issue(self, *, integrator: str, raw_key: str | None = None) -> tuple["Open311ApiKey", str]:
        """Create a key for ``integrator``; returns the row and the raw key (shown once, never stored)."""
        raw_key = raw_key or secrets.token_urlsafe(32)
        row = self.create(integrator=integrator, key_prefix=raw_key[:8], key_hash=hash_api_key(raw_key))
        return row, raw_key

    def find_active(self, raw_key: str) -> "Open311ApiKey | None":
        if not raw_key:
            return None
        return self.filter(key_hash=hash_api_key(raw_key), active=True).first()


class Open311ApiKey(models.Model):
    """An Open311 integrator's key for POSTing service requests. Only its hash is stored."""

    integrator = models.CharField(_("接入方"), max_length=100)
    key_prefix = models.CharField(_("密钥前缀"), max_length=8, editable=False, help_text=_("仅用于辨认，不能用于调用"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    objects = Open311ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["integrator", "id"]
        verbose_name = _("Open311 接入密钥")
        verbose_name_plural = _("Open311 接入密钥")

    def __str__(self) -> str:
        return f"{self.integrator} ({self.key_prefix}…)"


class Open311Request(models.Model):
    """What an integrator sent with a service request, beyond the ticket itself."""

    ticket = models.OneToOneField("routing.Ticket", on_delete=models.PROTECT, related_name="open311_request")
    api_key = models.ForeignKey(Open311ApiKey, on_delete=models.PROTECT, related_name="requests")
    token = models.CharField(max_length=64, unique=True, default=new_chat_token, editable=False)
    fingerprint = models.CharField(max_length=64, db_index=True)
    client_token = models.CharField(max_length=64, blank=True)
    service_code = models.CharField(max_length=64)
    device_id = models.CharField(max_length=100, blank=True)
    account_id = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    address_id = models.CharField(max_length=100, blank=True)
    media_url = models.URLField(max_length=500, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("Open311 请求")
        verbose_name_plural = _("Open311 请求")
