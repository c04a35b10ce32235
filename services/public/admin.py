"""Admin: Open311 integrator keys (the raw key is shown once, on creation) and chat records."""

from __future__ import annotations

import secrets

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from services.public.models import ChatMessage, ChatSession, Open311ApiKey, hash_api_key


@admin.register(Open311ApiKey)
class Open311ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["integrator", "key_prefix", "active", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["integrator", "key_prefix"]
    fields = ["integrator", "active", "key_prefix", "created_at", "last_used_at"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        if not change:
            raw_key = secrets.token_urlsafe(32)
            obj.key_prefix, obj.key_hash = raw_key[:8], hash_api_key(raw_key)
            super().save_model(request, obj, form, change)
            messages.warning(request, _("新密钥（只显示这一次，请立即复制交给接入方）：%(key)s") % {"key": raw_key})
            return
        super().save_model(request, obj, form, change)

    @admin.action(description=gettext_lazy("停用所选密钥"))
    def deactivate(self, request, queryset):
        queryset.update(active=False)


class ChatMessageInline(admin.TabularInline):
    model = ChatMessage
    extra = 0
    can_delete = False
    fields = ["created_at", "sender", "author", "text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["pk", "status", "ticket", "agent", "created_at", "closed_at"]
    list_filter = ["status"]
    fields = ["status", "ticket", "agent", "citizen_name", "created_at", "closed_at"]
    readonly_fields = fields
    inlines = [ChatMessageInline]

    def has_add_permission(self, request):
        return False
