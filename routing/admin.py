from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from routing.models import (
    Area, CalendarOverride, Category, CategoryCorrection, ClassifierModel, DeadlinePolicy, Department, DispatchDispute, DispatchRule, EmergencyLine, ExportRecord,
    IntelligencePolicy, KpiAppeal, KpiExclusion,
    OutboxMessage, Ticket, TicketEvent, User,
)  # fmt: skip


@admin.register(User)
class StaffAdmin(UserAdmin):
    fieldsets = [*UserAdmin.fieldsets, (_("热线角色"), {"fields": ["role", "department", "can_reveal_contact"]})]
    list_display = ["username", "role", "department", "is_active"]
    list_filter = ["role", "department", "is_active"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "parent", "area", "active"]
    search_fields = ["code", "name"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "parent", "level"]
    search_fields = ["name", "code"]
    list_filter = ["level"]


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "parent"]
    list_filter = ["kind"]
    search_fields = ["name", "code"]


@admin.register(DispatchRule)
class DispatchRuleAdmin(admin.ModelAdmin):
    """派单目录: dispatchers keep the catalogue here."""

    list_display = ["name", "category", "area", "keywords", "department", "priority", "automatic", "active"]
    list_filter = ["automatic", "active", "department"]
    list_editable = ["priority", "automatic", "active"]
    autocomplete_fields = ["category", "area", "department"]
    search_fields = ["name", "keywords"]


@admin.register(EmergencyLine)
class EmergencyLineAdmin(admin.ModelAdmin):
    """移交目录: the emergency lines (110/119/120/122), the matters each takes, the number a call is put through to."""

    list_display = ["code", "name", "phone", "ordering", "active"]
    list_editable = ["ordering", "active"]
    search_fields = ["code", "name", "matters", "keywords"]

    def has_delete_permission(self, request, obj=None):
        # Tickets keep the line they were transferred to or referred by: a line is switched off, not deleted.
        return False


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin):
    list_display = ["type", "urgency", "accept_limit", "accept_unit", "handle_limit", "handle_unit"]


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):
    list_display = ["day", "is_workday", "note"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TicketEvent)
class TicketEventAdmin(ReadOnlyAdmin):
    """The audit timeline: read only, for everyone."""

    list_display = ["ticket", "kind", "from_state", "to_state", "actor", "actor_role", "department", "created_at"]
    list_filter = ["kind", "actor_role"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "actor", "department"]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    """Tickets change only through their workflow (the pages and the API), never by editing here."""

    list_display = ["number", "channel", "type", "state", "department", "due_at", "registered_at"]
    list_filter = ["state", "channel", "type", "urgency"]
    search_fields = ["number"]
    list_select_related = ["department"]


@admin.register(OutboxMessage)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "attempts", "next_attempt_at", "last_error", "created_at"]
    list_filter = ["status", "kind"]


@admin.register(IntelligencePolicy)
class IntelligencePolicyAdmin(admin.ModelAdmin):
    """One row: the auto-dispatch threshold (off when empty) and when the worker retrains."""

    list_display = ["__str__", "auto_dispatch_threshold", "retrain_min_new", "retrain_every_hours"]

    def has_add_permission(self, request):
        return not IntelligencePolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1  # the one row IntelligencePolicy.current() reads
        super().save_model(request, obj, form, change)


@admin.register(ClassifierModel)
class ClassifierModelAdmin(ReadOnlyAdmin):
    """Trained versions; the active one is served. New versions come from train_classifier or the worker."""

    list_display = ["version", "active", "trained_at", "examples", "confirmed_tickets", "macro_f1", "top3"]
    exclude = ["artifact"]

    @admin.display(description=_("宏平均 F1"))
    def macro_f1(self, obj):
        value = obj.metrics.get("macro_f1")
        return f"{value:.3f}" if value is not None else "-"

    @admin.display(description=_("前三准确率"))
    def top3(self, obj):
        value = obj.metrics.get("top3_accuracy")
        return f"{value:.3f}" if value is not None else "-"


@admin.register(CategoryCorrection)
class CategoryCorrectionAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "proposed", "chosen", "topic_changed", "model_version", "by", "created_at"]
    list_filter = ["topic_changed", "model_version"]
    list_select_related = ["ticket", "proposed", "chosen", "by"]


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyAdmin):
    """Who exported which list or report, with which filters: read only."""

    list_display = ["created_at", "user", "kind", "format", "rows"]
    list_filter = ["kind", "format"]
    search_fields = ["user__username"]
    list_select_related = ["user"]


@admin.register(DispatchDispute)
class DispatchDisputeAdmin(ReadOnlyAdmin):
    """派单异议: filed and decided through the ticket's steps, so read only here."""

    list_display = ["filed_at", "ticket", "department", "cited_rule", "suggested_department", "outcome", "decided_at", "redispatched_to"]
    list_filter = ["outcome", "department"]
    search_fields = ["ticket__number", "reason"]
    list_select_related = ["ticket", "department", "cited_rule", "suggested_department", "redispatched_to"]


@admin.register(KpiAppeal)
class KpiAppealAdmin(ReadOnlyAdmin):
    """复核申诉: filed and decided through the API and the ticket page (each step an event), so read only here."""

    list_display = ["filed_at", "ticket", "subject", "department", "outcome", "decide_due", "decided_at"]
    list_filter = ["outcome", "subject", "department"]
    search_fields = ["ticket__number", "reason", "decision_reason"]
    list_select_related = ["ticket", "department"]


@admin.register(KpiExclusion)
class KpiExclusionAdmin(ReadOnlyAdmin):
    """Ratings and red cards left out of the KPIs, with their reasons (read only: decided on the ticket page)."""

    list_display = ["created_at", "ticket", "subject", "reason", "decided_by", "appeal"]
    list_filter = ["subject"]
    search_fields = ["ticket__number", "reason"]
    list_select_related = ["ticket", "decided_by", "appeal"]
