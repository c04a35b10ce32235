"""Shapes of the REST API (API.md). Input serializers validate; the actions act."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hotline.fields import Text, phone_validator
from routing import deadlines, privacy, selectors
from routing.models import (
    Area, Category, Department, DispatchDispute, DispatchRule, EmergencyLine, KpiAppeal, KpiExclusion, KpiSubject, Ticket, TicketEvent,
)  # fmt: skip
from routing.phones import text_for
from routing.roles import Role, sees_contact
from routing.states import Channel, Satisfaction, TicketType, Urgency


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name", "parent", "area", "active"]


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "code", "name", "parent", "level", "path"]


class AreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "code", "name", "kind", "parent", "level", "path"]


# --- the shapes of nested objects, for the OpenAPI schema (the API writes them as plain dicts) ---
class DepartmentRef(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class CategoryRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField()


class AreaRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


class RuleRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TicketProposedCategory(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path_names = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField(allow_null=True)
    model = serializers.CharField(allow_null=True)


class CitizenContact(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    anonymous = serializers.BooleanField()
    masked = serializers.BooleanField()
    confidential = serializers.BooleanField(required=False)


class ReplyShape(serializers.Serializer):
    founded = serializers.BooleanField(allow_null=True)
    solved = serializers.BooleanField(allow_null=True)
    text = serializers.CharField(allow_blank=True)
    basis = serializers.CharField(allow_blank=True)


@extend_schema_field(DepartmentRef(allow_null=True))
class DepartmentRefField(serializers.Field):
    def to_representation(self, value):
        return {"id": value.pk, "code": value.code, "name": value.name} if value else None


class LineRef(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


@extend_schema_field(LineRef(allow_null=True))
class LineRefField(serializers.Field):
    """An emergency line (联动单位) as ``{"code", "name"}``, or null."""

    def to_representation(self, value):
        return {"code": value.code, "name": value.name} if value else None


class EmergencyLineSerializer(serializers.ModelSerializer):
    """A line of the transfer list (移交目录): what it takes and the words that suggest it."""

    matters = serializers.SerializerMethodField()
    keywords = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyLine
        fields = ["code", "name", "phone", "matters", "keywords"]

    def get_matters(self, line) -> list[str]:
        return line.matter_list()

    def get_keywords(self, line) -> list[str]:
        return line.keyword_list()


def _category_ref(category) -> dict:
    return {"id": category.pk, "name": category.name, "path": category.path}


def _area_ref(area) -> dict:
    return {"id": area.pk, "name": area.name, "kind": area.kind}


class TicketSerializer(serializers.ModelSerializer):
    category = serializers.SerializerMethodField()
    area = serializers.SerializerMethodField()
    citizen = serializers.SerializerMethodField()
    department = DepartmentRefField(read_only=True)
    parent_department = DepartmentRefField(read_only=True)
    proposed_department = DepartmentRefField(read_only=True)
    proposed_rule = serializers.SerializerMethodField()
    proposed_category = serializers.SerializerMethodField()
    proposal = serializers.SerializerMethodField()
    assisting = serializers.SerializerMethodField()
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    due_soon = serializers.BooleanField(source="is_due_soon", read_only=True)
    reply = serializers.SerializerMethodField()
    merged_into = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    transferred_to = LineRefField(read_only=True)
    referred_from = LineRefField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "number", "external_id", "endorsements", "channel", "type", "category", "urgency", "life_safety", "title", "description", "address", "lat", "lng",
            "area", "citizen", "anonymous", "confidential", "state", "state_display", "department", "parent_department",
            "assisting", "proposed_department", "proposed_rule", "proposed_category", "proposal_score", "proposal", "registered_at", "dispatched_at", "accepted_at",
            "replied_at", "closed_at", "accept_due", "handle_due", "due_at", "overdue", "due_soon", "yellow_card_at",
            "red_card_at", "extension_pending", "extension_days", "extension_reason", "extension_count", "return_reason",
            "reply", "resolution", "decline_reason", "callback_reached", "callback_solved", "satisfaction",
            "unsatisfied_count", "supervised", "urge_count", "merged_into", "transferred_to", "transfer_reason", "transfer_reference",
            "referred_from", "referral_reference", "kpi_excluded", "kpi_exclusion_reason",
        ]  # fmt: skip

    def _viewer(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def to_representation(self, ticket):
        data = super().to_representation(ticket)
        viewer = self._viewer()
        if not sees_contact(viewer):  # a phone the citizen wrote into the text is masked like the contact
            for name in ("title", "description"):
                if data.get(name):
                    data[name] = text_for(viewer, data[name])
        return data

    @extend_schema_field(CategoryRef(allow_null=True))
    def get_category(self, ticket):
        return _category_ref(ticket.category) if ticket.category_id else None

    @extend_schema_field(AreaRef(allow_null=True))
    def get_area(self, ticket):
        return _area_ref(ticket.area) if ticket.area_id else None

    @extend_schema_field(RuleRef(allow_null=True))
    def get_proposed_rule(self, ticket):
        return {"id": ticket.proposed_rule.pk, "name": ticket.proposed_rule.name} if ticket.proposed_rule_id else None

    @extend_schema_field(TicketProposedCategory(allow_null=True))
    def get_proposed_category(self, ticket):
        """The classifier's best category, as it was proposed at registration."""
        if not ticket.proposed_category_id:
            return None
        best = (ticket.proposal.get("categories") or [{}])[0]
        return {
            "id": ticket.proposed_category_id, "name": best.get("name", ""), "path_names": best.get("path_names", []),
            "score": ticket.proposal_score, "model": ticket.proposal_version,
        }  # fmt: skip

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_proposal(self, ticket):
        """The whole proposal (top categories, type, area, life-safety cues, the words that weighed most), or null."""
        return ticket.proposal or None

    @extend_schema_field(DepartmentRef(many=True))
    def get_assisting(self, ticket):
        return [{"id": d.pk, "code": d.code, "name": d.name} for d in ticket.assisting_departments.all()]

    @extend_schema_field(ReplyShape(allow_null=True))
    def get_reply(self, ticket):
        if ticket.replied_at is None and not ticket.reply_text:
            return None
        return {"founded": ticket.reply_founded, "solved": ticket.reply_solved, "text": ticket.reply_text, "basis": ticket.reply_basis}

    @extend_schema_field(CitizenContact())
    def get_citizen(self, ticket):
        contact = privacy.contact_for(self._viewer(), ticket)
        shown = {"name": contact.name, "phone": contact.phone, "anonymous": contact.anonymous, "masked": contact.masked}
        if contact.masked and contact.confidential:
            shown["confidential"] = True
        return shown


_when = serializers.DateTimeField().to_representation  # local time, like every other timestamp of the API


class DisputeShape(serializers.Serializer):
    """A pending 退单 / 派单异议, as the dispatch desk decides it."""

    id = serializers.IntegerField()
    department = DepartmentRef()
    reason = serializers.CharField()
    cited_rule = RuleRef(allow_null=True)
    suggested_department = DepartmentRef(allow_null=True)
    filed_at = serializers.DateTimeField()
    decide_due = serializers.DateTimeField()
    overdue = serializers.BooleanField()


class TicketDetailSerializer(TicketSerializer):
    available_transitions = serializers.SerializerMethodField()
    dispute = serializers.SerializerMethodField()
    appeals = serializers.SerializerMethodField()
    kpi_exclusions = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "available_transitions", "dispute", "appeals", "kpi_exclusions"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), help_text="复核申诉 of its ratings and red cards (AppealSerializer)"))
    def get_appeals(self, ticket) -> list:
        return AppealSerializer(ticket.appeals.select_related("event", "department", "filed_by", "decided_by").order_by("filed_at", "id"), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), help_text="its ratings and red cards left out of the KPIs"))
    def get_kpi_exclusions(self, ticket) -> list:
        return KpiExclusionSerializer(ticket.kpi_exclusions.select_related("event").order_by("created_at", "id"), many=True).data

    @extend_schema_field(DisputeShape(allow_null=True))
    def get_dispute(self, ticket):
        from routing import disputes

        dispute = disputes.pending(ticket) if ticket.state == "return_requested" else None
        if dispute is None:
            return None
        ref = lambda d: {"id": d.pk, "code": d.code, "name": d.name} if d else None  # noqa: E731
        return {
            "id": dispute.pk, "department": ref(dispute.department), "reason": dispute.reason,
            "cited_rule": {"id": dispute.cited_rule.pk, "name": dispute.cited_rule.name} if dispute.cited_rule_id else None,
            "suggested_department": ref(dispute.suggested_department), "filed_at": _when(dispute.filed_at),
            "decide_due": _when(dispute.decide_due), "overdue": dispute.overdue,
        }  # fmt: skip

    def get_available_transitions(self, ticket) -> list[str]:
        from routing.actions import available_transitions

        viewer = self._viewer()
        return available_transitions(ticket, viewer) if viewer is not None else []


class TicketEventSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(max_length=48)  # an EventKind; documented as a string, as before it had choices
    actor = serializers.SerializerMethodField()
    department = DepartmentRefField(read_only=True)

    class Meta:
        model = TicketEvent
        fields = ["id", "kind", "from_state", "to_state", "actor", "actor_role", "department", "created_at", "data", "public"]

    def get_actor(self, event) -> str:
        return event.actor.get_username() if event.actor_id else event.actor_role

    def to_representation(self, event):
        data = super().to_representation(event)
        request = self.context.get("request")
        viewer = getattr(request, "user", None)
        if isinstance(data.get("data"), dict) and not sees_contact(viewer):  # a transcript, a note: phones masked
            data["data"] = {key: text_for(viewer, value) if isinstance(value, str) else value for key, value in data["data"].items()}
        return data


# --- input --------------------------------------------------------------------
class CitizenInput(serializers.Serializer):
    name = Text(max_length=100, required=False, allow_blank=True, default="")
    phone = Text(max_length=32, required=False, allow_blank=True, default="", validators=[phone_validator()])
    anonymous = serializers.BooleanField(required=False, default=False)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 8})
class EmergencyLineField(serializers.SlugRelatedField):
    """An active line of the transfer list by its code ("110"), as a string only; anything else is a 400."""

    default_error_messages = {
        "does_not_exist": _("没有编号为 {value} 的联动单位（见 /api/v1/emergency-lines/）"),
        "invalid": _("联动单位须为编号，如 \"110\""),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=EmergencyLine.objects.filter(active=True), **kwargs)

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and data is not None and (not isinstance(data, str) or not data.strip() or len(data) > 8):
            self.fail("invalid")
        return super().run_validation(data)


class ReferralInput(serializers.Serializer):
    """110 转 12345: the line that referred the matter and its own number for it (警情号)."""

    line = EmergencyLineField(help_text="the referring line's code, e.g. 110")
    reference = Text(max_length=64, help_text="the referring line's number for the matter (警情号); a second request with it returns the first ticket")


class TicketCreateInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    type = serializers.ChoiceField(choices=TicketType.choices)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), required=False, allow_null=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, default=Urgency.NORMAL)
    life_safety = serializers.BooleanField(required=False, default=False)
    title = Text(max_length=200, required=False, allow_blank=True, default="")
    description = Text(max_length=8000)
    address = Text(max_length=300, required=False, allow_blank=True, default="")
    lat = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True, min_value=-90, max_value=90)
    lng = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True, min_value=-180, max_value=180)
    area = serializers.PrimaryKeyRelatedField(queryset=Area.objects.all(), required=False, allow_null=True)
    citizen = CitizenInput(required=False)
    confidential = serializers.BooleanField(required=False, default=False)
    channel_ref = Text(max_length=128, required=False, allow_blank=True, default="")
    referred_from = ReferralInput(required=False, help_text="a matter another line (110 …) refers to 12345")
    auto_dispatch = serializers.BooleanField(
        required=False, default=True, help_text="false: no automatic dispatch, the agent resolves or transfers the ticket at once"
    )


class ClassifyInput(serializers.Serializer):
    text = Text(max_length=8000)
    title = Text(max_length=200, required=False, allow_blank=True, default="")
    address = Text(max_length=300, required=False, allow_blank=True, default="")


_FIRST_DAY, _LAST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


class ReplyAssessInput(serializers.Serializer):
    """A reply to assess: against a ``ticket`` (its text, address and deadline), or a ``message``."""

    reply = Text(max_length=8000)
    message = Text(max_length=8000, required=False, allow_blank=True, default="")
    ticket = Text(max_length=32, required=False, allow_blank=True, default="")
    basis = Text(max_length=4000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if not attrs["ticket"] and not attrs["message"].strip():
            raise serializers.ValidationError({"message": [_("请提供诉求内容（message）或工单号（ticket）")]})
        return attrs


class ReplyElementSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["finding", "action", "result", "basis", "contact", "date"])
    label = serializers.CharField()
    found = serializers.BooleanField()
    span = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class ReplyFindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    severity = serializers.ChoiceField(choices=["missing", "warning", "info"])
    spans = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class ReplyAssessmentSerializer(serializers.Serializer):
    relevance = serializers.FloatField()
    completeness = serializers.FloatField()
    passing = serializers.FloatField()
    boilerplate = serializers.FloatField()
    timely = serializers.BooleanField(allow_null=True)
    flagged = serializers.BooleanField()
    elements = ReplyElementSerializer(many=True)
    findings = ReplyFindingSerializer(many=True)
    version = serializers.CharField()


class PeriodQuery(serializers.Serializer):
    """``?from=&to=`` as local dates, both optional, in a sane range and in order (the KPI reports)."""

    from_ = serializers.DateField(required=False)
    to = serializers.DateField(required=False)

    def to_internal_value(self, data):
        data = {**{k: v for k, v in data.items() if k != "from"}, "from_": data.get("from")}
        data = {k: v for k, v in data.items() if v is not None}  # an empty date is a bad date, not no date
        return super().to_internal_value(data)

    def validate(self, attrs):
        for name in ("from_", "to"):
            day = attrs.get(name)
            if day and not (_FIRST_DAY <= day <= _LAST_DAY):
                raise serializers.ValidationError({name.rstrip("_"): [_("日期须在 2000-01-01 至 2099-12-31 之间")]})
        if attrs.get("from_") and attrs.get("to") and attrs["from_"] > attrs["to"]:
            raise serializers.ValidationError({"from": [_("开始日期不能晚于结束日期")]})
        return attrs


class ReplyQualityDepartment(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ReplyQualitySerializer(serializers.Serializer):
    department = ReplyQualityDepartment(allow_null=True)
    replies = serializers.IntegerField()
    relevance = serializers.FloatField()
    completeness = serializers.FloatField()
    flagged = serializers.IntegerField()
    flagged_share = serializers.FloatField()
    passing = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejected_share = serializers.FloatField()


class CatalogueRuleSerializer(serializers.ModelSerializer):
    """An entry of the dispatch catalogue (派单目录), as a department cites it in a dispute."""

    category = serializers.SerializerMethodField()
    area = serializers.SerializerMethodField()
    department = DepartmentRefField(read_only=True)

    class Meta:
        model = DispatchRule
        fields = ["id", "name", "category", "area", "keywords", "department", "automatic"]

    @extend_schema_field(CategoryRef(allow_null=True))
    def get_category(self, rule):
        return _category_ref(rule.category) if rule.category_id else None

    @extend_schema_field(AreaRef(allow_null=True))
    def get_area(self, rule):
        return _area_ref(rule.area) if rule.area_id else None


class DisputeDepartmentRow(serializers.Serializer):
    department = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_blank=True)
    dispatched = serializers.IntegerField(help_text="dispatches to it in the period")
    disputes = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="disputes ÷ dispatched")
    upheld = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending = serializers.IntegerField()
    overdue = serializers.IntegerField(help_text="decided after, or still pending past, the decision deadline")
    upheld_rate = serializers.FloatField(allow_null=True, help_text="upheld ÷ decided")


class DisputeRuleRow(serializers.Serializer):
    rule = serializers.IntegerField()
    name = serializers.CharField()
    department = serializers.CharField()
    dispatched = serializers.IntegerField(help_text="dispatches made on this catalogue entry in the period")
    disputes = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    upheld = serializers.IntegerField()
    rejected = serializers.IntegerField()


class DisputeProposal(serializers.Serializer):
    rule = serializers.IntegerField(allow_null=True, help_text="the entry that sent them, or null for hand dispatches")
    rule_name = serializers.CharField(allow_blank=True)
    from_department = serializers.CharField()
    to_department = serializers.CharField()
    to_department_code = serializers.CharField()
    upheld = serializers.IntegerField()
    cited_rules = serializers.ListField(child=serializers.CharField())
    categories = serializers.ListField(child=serializers.CharField())
    tickets = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField()


class DisputeTotals(serializers.Serializer):
    dispatched = serializers.IntegerField()
    disputes = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    upheld = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending = serializers.IntegerField()
    overdue = serializers.IntegerField()


class RepeatsInput(serializers.Serializer):
    text = Text(max_length=8000)
    title = Text(max_length=200, required=False, allow_blank=True, default="")
    phone = Text(max_length=32, required=False, allow_blank=True, default="", validators=[phone_validator()])
    address = Text(max_length=300, required=False, allow_blank=True, default="")
    area = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=2**31 - 1)


class RepeatSerializer(serializers.Serializer):
    """One earlier ticket about the same problem (what an agent or dispatcher sees of it)."""

    number = serializers.CharField(source="ticket.number")
    external_id = serializers.CharField(source="ticket.external_id", allow_null=True)
    title = serializers.CharField(source="ticket.title")
    state = serializers.CharField(source="ticket.state")
    state_display = serializers.CharField(source="ticket.get_state_display")
    registered_at = serializers.DateTimeField(source="ticket.registered_at")
    days_ago = serializers.IntegerField()
    department = serializers.CharField(source="ticket.department.name", default=None, allow_null=True)
    score = serializers.FloatField()
    same_place = serializers.BooleanField()


class RepeatsOutput(serializers.Serializer):
    same_caller = RepeatSerializer(many=True)
    similar = RepeatSerializer(many=True)


class _MomentOrDay(serializers.CharField):
    """An ISO date (the whole day, Asia/Shanghai) or an ISO date-time."""

    def __init__(self, *, end_of_day: bool, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        import datetime as dt

        from django.utils import timezone
        from django.utils.dateparse import parse_date, parse_datetime

        text = super().to_internal_value(data)
        if len(text) > 40:
            raise serializers.ValidationError(_("须为日期（YYYY-MM-DD）或 ISO 时间"))
        try:
            day = parse_date(text)
            if day is not None:
                if not (_FIRST_DAY <= day <= _LAST_DAY):
                    raise serializers.ValidationError(_("日期须在 2000-01-01 至 2099-12-31 之间"))
                return dt.datetime.combine(day, dt.time.max if self.end_of_day else dt.time.min, tzinfo=timezone.get_default_timezone())
            moment = parse_datetime(text)
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            raise serializers.ValidationError(_("须为日期（YYYY-MM-DD）或 ISO 时间"))
        if not (_FIRST_DAY <= moment.date() <= _LAST_DAY):
            raise serializers.ValidationError(_("日期须在 2000-01-01 至 2099-12-31 之间"))
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class HotIssueQuery(serializers.Serializer):
    from_ = _MomentOrDay(end_of_day=False, required=False)
    to = _MomentOrDay(end_of_day=True, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    def to_internal_value(self, data):
        data = {**{k: v for k, v in data.items() if k != "from"}, "from_": data.get("from")}
        data = {k: v for k, v in data.items() if v is not None}  # an empty date is a bad date, not no date
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs.get("from_") and attrs.get("to") and attrs["from_"] > attrs["to"]:
            raise serializers.ValidationError({"from": [_("开始时间不能晚于结束时间")]})
        return attrs


class HotIssueSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="issue.pk")
    title = serializers.CharField(source="issue.title")
    heat = serializers.FloatField()
    count = serializers.IntegerField()
    callers = serializers.IntegerField(source="issue.callers")
    endorsements = serializers.IntegerField(source="issue.endorsements")
    place = serializers.CharField(source="issue.place")
    keywords = serializers.ListField(source="issue.keywords", child=serializers.CharField())
    first_at = serializers.DateTimeField(source="issue.first_at")
    last_at = serializers.DateTimeField(source="issue.last_at")
    trend = serializers.SerializerMethodField()
    tickets = serializers.SerializerMethodField()

    def get_trend(self, obj) -> list[dict]:
        return [{"day": day, "count": n} for day, n in obj.trend]

    def get_tickets(self, obj) -> list[dict]:
        return [{"number": t["number"], "external_id": t["external_id"]} for t in obj.tickets]


class TokenInput(serializers.Serializer):
    # DRF's CharField refuses NUL bytes, which PostgreSQL cannot store or compare.
    username = Text(max_length=150, trim_whitespace=True)
    password = Text(max_length=256, trim_whitespace=False)


class ReasonInput(serializers.Serializer):
    reason = Text(max_length=4000)


class OptionalReasonInput(serializers.Serializer):
    reason = Text(max_length=4000, required=False, allow_blank=True, default="")


class NoteInput(serializers.Serializer):
    note = Text(max_length=2000, required=False, allow_blank=True, default="")


class EmptyInput(serializers.Serializer):
    pass


class ResolveInput(serializers.Serializer):
    answer = Text(max_length=4000)


class StrictIdField(serializers.PrimaryKeyRelatedField):
    """A row id as a JSON integer only: not "12", not 12.0, not true, not "" (DRF would take each)."""

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and data is not None and (isinstance(data, bool) or not isinstance(data, int)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().run_validation(data)


@extend_schema_field({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "integer"}]})
class DepartmentCodeOrIdField(serializers.SlugRelatedField):
    """An active department by its code (a string) or its id (an integer); anything else is a 400."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Department.objects.filter(active=True), **kwargs)

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and data is not None and (isinstance(data, bool) or not isinstance(data, (str, int))):
            self.fail("invalid")
        if data == "":
            self.fail("invalid")
        return super().run_validation(data)

    def to_internal_value(self, data):
        if isinstance(data, int):
            found = self.get_queryset().filter(pk=data).first()
            if found is None:
                self.fail("does_not_exist", slug_name=self.slug_field, value=data)
            return found
        return super().to_internal_value(data)


class TransferInput(serializers.Serializer):
    """移交 110/119/120/122: the line (its code), why, and the line's own reference when already known."""

    line = EmergencyLineField(help_text="the code of an active line of the transfer list (GET /api/v1/emergency-lines/)")
    reason = Text(max_length=4000)
    reference = Text(max_length=64, required=False, allow_blank=True, default="", help_text="the line's number for the matter (接警号), if known now")


class TransferReferenceInput(serializers.Serializer):
    reference = Text(max_length=64, help_text="the line's number for the transferred matter (接警号 / 警情号)")


class ReturnInput(serializers.Serializer):
    """退单申请 / 派单异议: the reason; the catalogue entry cited and the department suggested, when the department knows them."""

    reason = Text(max_length=4000)
    cited_rule = StrictIdField(
        queryset=DispatchRule.objects.filter(active=True), required=False, allow_null=True, default=None,
        help_text="the dispatch-catalogue entry (rule id) that makes this ticket another department's business",
    )  # fmt: skip
    suggested_department = DepartmentCodeOrIdField(required=False, allow_null=True, default=None, help_text="the department that should have it (code or id)")


class ApproveReturnInput(serializers.Serializer):
    """退单同意 (异议成立); with ``department`` the ticket is re-dispatched at once (改派)."""

    department = DepartmentCodeOrIdField(required=False, allow_null=True, default=None, help_text="re-dispatch to this lead department (code or id) in the same step")
    assisting = serializers.ListField(child=DepartmentCodeOrIdField(), required=False, default=list, max_length=20)
    reason = Text(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["assisting"] and attrs["department"] is None:
            raise serializers.ValidationError({"assisting": [_("协办单位只能随改派一起指定")]})
        return attrs


class DispatchInput(serializers.Serializer):
    department = serializers.SlugRelatedField(slug_field="code", queryset=Department.objects.filter(active=True))
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), required=False, allow_null=True, default=None)
    assisting = serializers.SlugRelatedField(slug_field="code", queryset=Department.objects.filter(active=True), many=True, required=False, default=list)

    def to_internal_value(self, data):
        # Departments may be given by code or by id.
        if isinstance(data, dict):
            data = dict(data)
            data["department"] = _department_code(data.get("department"))
            if isinstance(data.get("assisting"), list):
                data["assisting"] = [_department_code(v) for v in data["assisting"]]
        return super().to_internal_value(data)


def _department_code(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return Department.objects.filter(pk=value).values_list("code", flat=True).first() or str(value)
    return value


class SubDispatchInput(serializers.Serializer):
    unit = serializers.SlugRelatedField(slug_field="code", queryset=Department.objects.filter(active=True))


class ExtensionInput(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=deadlines.MAX_EXTENSION_DAYS)
    reason = Text(max_length=4000)


class ReplyInput(serializers.Serializer):
    founded = serializers.BooleanField()
    solved = serializers.BooleanField()
    text = Text(max_length=8000)
    basis = Text(max_length=4000, required=False, allow_blank=True, default="")


class CallbackInput(serializers.Serializer):
    reached = serializers.BooleanField()
    solved = serializers.BooleanField(required=False, allow_null=True, default=None)
    satisfaction = serializers.ChoiceField(choices=Satisfaction.choices, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["reached"] and not attrs.get("satisfaction"):
            raise serializers.ValidationError({"satisfaction": [_("已联系上诉求人时须填写满意度")]})
        return attrs


class VisibleTicketField(serializers.SlugRelatedField):
    """A ticket number among those the requesting user may see: another department's ticket answers
    exactly as a missing one does (no existence oracle)."""

    default_error_messages = {
        "does_not_exist": _("目标工单不存在"),
        "invalid": _("目标工单不存在"),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="number", **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return selectors.visible_tickets(request.user) if request is not None else Ticket.objects.none()


class MergeInput(serializers.Serializer):
    into = VisibleTicketField(queryset=Ticket.objects.none())


class RevealInput(serializers.Serializer):
    reason = Text(max_length=500)


class KpiQuery(PeriodQuery):
    by = serializers.ChoiceField(choices=["department", "category", "area", "type", "day", ""], required=False, default="")


# --- 分档分类评价: exclusions and appeals (routing.ratings) ------------------------------------
class StrictIntegerField(serializers.IntegerField):
    """An integer as a JSON integer only (DRF's IntegerField also takes "12", 12.0 and true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


_SUBJECT_HELP = "rating: a callback's satisfaction answer; red_card: the red card that settled a handling round"
_EVENT_HELP = "the id of the rating (ticket.callback) or red card (ticket.card_red) event; default: the latest one"


class KpiExclusionInput(serializers.Serializer):
    """不纳入考核 of one rating or red card of the ticket (supervisors)."""

    subject = serializers.ChoiceField(choices=KpiSubject.choices, help_text=_SUBJECT_HELP)
    reason = Text(max_length=500)
    event = StrictIntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1, help_text=_EVENT_HELP)


class AppealInput(KpiExclusionInput):
    """复核申诉 of an unsatisfied rating or a red card of the department's own (department staff)."""

    reason = Text(max_length=2000)


class AppealDecisionInput(serializers.Serializer):
    upheld = serializers.BooleanField(help_text="true: the rating or red card leaves the KPIs; false: it stays")
    reason = Text(max_length=500, help_text="复核意见, kept with the decision (and as the exclusion's reason when upheld)")


class AppealQuery(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=KpiAppeal.Outcome.choices, required=False, allow_blank=True, default="")


class AppealExportQuery(AppealQuery):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], default="xlsx", help_text="file format of the export")


class ReviewedEvent(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    what = serializers.CharField(help_text="e.g. 回访评价「不满意」")


def _reviewed_event(event) -> dict:
    from routing import ratings

    return {"id": event.pk, "kind": event.kind, "created_at": _when(event.created_at), "what": ratings.describe(event)}


class AppealSerializer(serializers.ModelSerializer):
    ticket = serializers.CharField(source="ticket.number", read_only=True)
    department = DepartmentRefField(read_only=True)
    event = serializers.SerializerMethodField()
    filed_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = KpiAppeal
        fields = [
            "id", "ticket", "subject", "event", "department", "reason", "filed_by", "filed_at", "decide_due", "outcome",
            "decided_at", "decided_by", "decision_reason", "overdue",
        ]  # fmt: skip

    @extend_schema_field(ReviewedEvent)
    def get_event(self, appeal) -> dict:
        return _reviewed_event(appeal.event)

    def get_filed_by(self, appeal) -> str:
        return appeal.filed_by.get_username() if appeal.filed_by_id else ""

    def get_decided_by(self, appeal) -> str:
        return appeal.decided_by.get_username() if appeal.decided_by_id else ""


class KpiExclusionSerializer(serializers.ModelSerializer):
    event = serializers.SerializerMethodField()
    appeal = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = KpiExclusion
        fields = ["id", "subject", "event", "reason", "created_at", "appeal"]

    @extend_schema_field(ReviewedEvent)
    def get_event(self, exclusion) -> dict:
        return _reviewed_event(exclusion.event)


class RatingTiers(serializers.Serializer):
    rated = serializers.IntegerField(help_text="callbacks with a satisfaction answer, after exclusions")
    satisfied = serializers.IntegerField(help_text="满意")
    basically_satisfied = serializers.IntegerField(help_text="基本满意")
    unsatisfied = serializers.IntegerField(help_text="不满意")
    satisfaction = serializers.FloatField(allow_null=True, help_text="(满意 + 基本满意) ÷ rated")
    full_satisfaction = serializers.FloatField(allow_null=True, help_text="满意 ÷ rated")


class RatingTypeRow(RatingTiers):
    type = serializers.CharField()
    label = serializers.CharField()


class KpiExcludedCounts(serializers.Serializer):
    tickets = serializers.IntegerField(help_text="tickets excluded from assessment with a counted event in the period")
    ratings = serializers.IntegerField(help_text="ratings of the period left out")
    red_cards = serializers.IntegerField(help_text="red cards of the period left out")


class AppealDepartmentRow(serializers.Serializer):
    department = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()
    upheld = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending = serializers.IntegerField()
    late = serializers.IntegerField(help_text="decided after, or still pending past, the decision deadline")


class AppealTotals(serializers.Serializer):
    total = serializers.IntegerField()
    upheld = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending = serializers.IntegerField()
    late = serializers.IntegerField()
    departments = AppealDepartmentRow(many=True)


class ExclusionRow(serializers.Serializer):
    number = serializers.CharField()
    subject = serializers.CharField()
    subject_label = serializers.CharField()
    what = serializers.CharField()
    department = serializers.CharField()
    reason = serializers.CharField()
    by_appeal = serializers.BooleanField()
    decided_by = serializers.CharField()
    at = serializers.DateTimeField()


class RatingReport(serializers.Serializer):
    """分档分类评价 of a period (``routing.ratings.report``)."""

    from_ = serializers.DateField()
    to = serializers.DateField()
    totals = RatingTiers()
    types = RatingTypeRow(many=True)
    excluded = KpiExcludedCounts()
    appeals = AppealTotals()
    exclusions = ExclusionRow(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


ROLE_NAMES = {r.value: r.label for r in Role}


class TicketListQuery(serializers.Serializer):
    """The ticket list's filters (``selectors.filtered_list``); the list and its export share them."""

    state = Text(required=False, allow_blank=True, max_length=200, help_text="one state or several, comma-separated")
    department = Text(required=False, allow_blank=True, max_length=64, help_text="a department's code or id")
    category = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1, help_text="a category and everything under it")
    overdue = serializers.BooleanField(required=False, help_text="true: running tickets past their deadline")
    external_id = Text(required=False, allow_blank=True, max_length=64, help_text="the id on the platform it was imported from")
    q = Text(required=False, allow_blank=True, max_length=200, help_text="a ticket number (or its beginning), a caller's phone (hotline roles), or words: every word, or a synonym, in the text, address or answer (through the search engine; with a filter only the database has, among the newest 1,000 matches)")
    referred_from = Text(required=False, allow_blank=True, max_length=8, help_text="referred to 12345 by this line (its code, e.g. 110)")
    transferred_to = Text(required=False, allow_blank=True, max_length=8, help_text="transferred to this line (its code, e.g. 110)")


class ExportFormat(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], default="xlsx", help_text="file format of the export")


class KpiExportQuery(KpiQuery, ExportFormat):
    pass


class PeriodExportQuery(PeriodQuery, ExportFormat):
    pass
