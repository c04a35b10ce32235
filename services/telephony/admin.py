"""Call and SMS records in the admin: read-only, they are what Twilio told us."""

from django.contrib import admin

from services.telephony.models import CallRecord, SmsMessage


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyAdmin):
    list_display = ["call_sid", "created_at", "status", "menu_choice", "answered", "agent", "queue_time", "duration", "ticket"]
    list_filter = ["status", "answered", "menu_choice"]
    search_fields = ["call_sid", "ticket__number"]
    raw_id_fields = ["ticket", "citizen", "agent"]


@admin.register(SmsMessage)
class SmsMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "direction", "status", "template", "message_sid", "ticket", "attempts"]
    list_filter = ["direction", "status", "template"]
    search_fields = ["message_sid", "ticket__number"]
    raw_id_fields = ["ticket", "citizen"]
