"""REST endpoints for tickets, queues, reference data and KPIs (API.md).

Views validate input and call one action or selector; they never change a
ticket's fields themselves.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from hotline.pagination import SearchedPages
from routing import accounts, actions, disputes, exports, hotissues, intelligence, kpis, linkage, ratings, repeats, reviews, selectors, textsearch, transitions
from routing.api import serializers as s
from routing.errors import NotAllowed, NotFound, NotReady
from routing.intelligence import review
from routing.intake import IntakeRequest, register_ticket
from routing.models import Area, Category, Department, DispatchRule, KpiAppeal, Ticket
from routing.roles import HOTLINE_ROLES, Role
from routing.states import TicketType


class StaffOnly(IsAuthenticated):
    """Signed-in users with a staff role."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and bool(getattr(request.user, "role", ""))


class LoginThrottle(AnonRateThrottle):
    rate = "30/min"
    scope = "login"


@extend_schema(
    request=s.TokenInput,
    responses={200: inline_serializer("TokenResponse", {"token": drf_serializers.CharField()})},
)
@api_view(["POST"])
@authentication_classes([])  # credentials are in the body; a browser session must not demand CSRF here
@permission_classes([AllowAny])
@throttle_classes([LoginThrottle])
def obtain_token(request):
    """Exchange a username and password for an API token; repeated failures lock the account for a while."""
    credentials = s.TokenInput(data=request.data if isinstance(request.data, dict) else {})
    if not credentials.is_valid():
        return Response({"error": {"code": "invalid", "message": _("请输入用户名和密码"), "details": credentials.errors}}, status=400)
    username, password = credentials.validated_data["username"], credentials.validated_data["password"]
    try:
        user = accounts.sign_in(request, username, password)
    except accounts.AccountLocked:
        return Response({"error": {"code": "locked", "message": _("登录失败次数过多，账号已临时锁定，请稍后再试"), "details": {}}}, status=403)
    if user is None:
        return Response({"error": {"code": "invalid_credentials", "message": _("用户名或密码错误"), "details": {}}}, status=401)
    token, _created = Token.objects.get_or_create(user=user)
    return Response({"token": token.key})


def _ticket_for(request, number: str) -> Ticket:
    """The ticket if this user may see it; 404 otherwise (no hint that it exists)."""
    return get_object_or_404(selectors.with_related(selectors.visible_tickets(request.user)), number=number)


# --- query parameters as the OpenAPI schema documents them (and the serializers enforce) -------------
_DAY = {"type": "string", "format": "date", "pattern": r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
PERIOD_PARAMETERS = [
    OpenApiParameter("from", _DAY, description="first local day, 2000-01-01 … 2099-12-31 (default: the period's start)"),
    OpenApiParameter("to", _DAY, description="last local day, not before ``from``"),
]
BY_PARAMETER = OpenApiParameter("by", str, enum=["department", "category", "area", "type", "day", ""], description="one row per …; empty: the totals only")
LIST_PARAMETERS = [s.TicketListQuery]


def _desk_only(request, message: str) -> None:
    """The KPI reports, hot issues and their exports are for supervisors and dispatchers: 403 for anyone else."""
    if request.user.role not in {Role.SUPERVISOR, Role.DISPATCHER}:
        raise NotAllowed(message)


def _appeals_of(request, outcome: str, *, limit: int = 200) -> list:
    """The appeals the user may list: every one for a supervisor, their own department's for its staff."""
    if request.user.role != Role.DEPARTMENT:
        return ratings.appeals_for(outcome=outcome, limit=limit)
    if request.user.department_id is None:
        return []
    return ratings.appeals_for(department_id=request.user.department_id, outcome=outcome, limit=limit)


def _list_query(request) -> dict:
    """The list's filters, validated (a typed filter of the wrong type is a 400, never ignored)."""
    query = s.TicketListQuery(data=request.query_params.dict())  # a plain dict: an empty value is a value
    query.is_valid(raise_exception=True)
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in query.validated_data.items()}


class TicketListCreate(ListAPIView):
    permission_classes = [StaffOnly]
    serializer_class = s.TicketSerializer
    pagination_class = SearchedPages

    @extend_schema(parameters=LIST_PARAMETERS)
    def get(self, request, *args, **kwargs):
        self.filters = _list_query(request)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.filtered_list(self.request.user, getattr(self, "filters", {}))

    @extend_schema(request=s.TicketCreateInput, responses={201: s.TicketDetailSerializer, 200: s.TicketDetailSerializer})
    def post(self, request):
        """Register a ticket (agents, dispatchers, supervisors)."""
        if request.user.role not in HOTLINE_ROLES:
            raise NotAllowed(_("只有热线工作人员可以登记工单"))
        data = s.TicketCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        citizen = v.get("citizen") or {}
        referral = v.get("referred_from") or {}
        result = register_ticket(
            IntakeRequest(
                channel=v["channel"], type=v["type"], category=v.get("category"), urgency=v["urgency"], life_safety=v["life_safety"],
                title=v["title"], description=v["description"], address=v["address"], lat=v.get("lat"), lng=v.get("lng"),
                area=v.get("area"), citizen_name=citizen.get("name", ""), citizen_phone=citizen.get("phone", ""),
                anonymous=citizen.get("anonymous", False), confidential=v["confidential"], channel_ref=v["channel_ref"],
                referred_from=referral.get("line"), referral_reference=referral.get("reference", ""),
                auto_dispatch=v["auto_dispatch"],
            ),
            by=request.user,
        )  # fmt: skip
        ticket = selectors.with_related(Ticket.objects.filter(pk=result.ticket.pk)).get()
        body = s.TicketDetailSerializer(ticket, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class TicketDetail(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(responses=s.TicketDetailSerializer)
    def get(self, request, number: str):
        ticket = _ticket_for(request, number)
        return Response(s.TicketDetailSerializer(ticket, context={"request": request}).data)


class TicketEvents(ListAPIView):
    permission_classes = [StaffOnly]
    serializer_class = s.TicketEventSerializer
    pagination_class = None

    def get_queryset(self):
        ticket = _ticket_for(self.request, self.kwargs["number"])
        return selectors.timeline_for(self.request.user, ticket)


# transition name → (its input serializer, the action that performs it): from each transition's declaration.
TRANSITIONS = {name: (getattr(s, step.input), actions.PERFORMERS[name]) for name, step in transitions.on_api().items()}


class TicketTransition(APIView):
    """``POST /api/v1/tickets/{number}/{transition}/``: 200 with the ticket; 400 / 403 / 404 / 409 otherwise.

    Each transition also has its own route (``transition_views``), so that the OpenAPI
    schema documents its request body; this one answers the names that do not exist (404).
    """

    permission_classes = [StaffOnly]

    @extend_schema(exclude=True)
    def post(self, request, number: str, transition: str):
        return self.run(request, number, transition)

    def run(self, request, number: str, transition: str):
        if transition not in TRANSITIONS:
            raise NotFound(_("没有名为「%(name)s」的操作") % {"name": transition[:50]}, code="unknown_transition")
        ticket = _ticket_for(request, number)
        input_class, perform = TRANSITIONS[transition]
        data = input_class(data=request.data if isinstance(request.data, dict) else {}, context={"request": request})
        data.is_valid(raise_exception=True)
        perform(ticket, by=request.user, **data.validated_data)
        fresh = selectors.with_related(Ticket.objects.filter(pk=ticket.pk)).get()
        return Response(s.TicketDetailSerializer(fresh, context={"request": request}).data)


def _transition_view(name: str, input_class) -> type[TicketTransition]:
    @extend_schema(
        operation_id=f"tickets_{name}",
        summary=f"POST /api/v1/tickets/{{number}}/{name}/",
        description=(transitions.step(name).note + " 409 when the ticket's state or deadline does not allow it now; 403 for a role that may not.").strip(),
        request=input_class,
        responses={200: s.TicketDetailSerializer},
    )
    def post(self, request, number: str):
        return self.run(request, number, name)

    return type(f"Ticket_{name}", (TicketTransition,), {"post": post, "__doc__": f"The ``{name}`` transition of a ticket."})


transition_views = {name: _transition_view(name, input_class) for name, (input_class, _call) in TRANSITIONS.items()}


class TicketTransferReference(APIView):
    """``POST /api/v1/tickets/{number}/transfer_reference/ {"reference"}``: the other line's number for a
    transferred matter (接警号), recorded after the transfer as an event (hotline roles; 409 unless transferred)."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.TransferReferenceInput, responses={200: s.TicketDetailSerializer})
    def post(self, request, number: str):
        ticket = _ticket_for(request, number)
        data = s.TransferReferenceInput(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        actions.record_transfer_reference(ticket, reference=data.validated_data["reference"], by=request.user)
        fresh = selectors.with_related(Ticket.objects.filter(pk=ticket.pk)).get()
        return Response(s.TicketDetailSerializer(fresh, context={"request": request}).data)


class TicketReveal(APIView):
    """``POST /api/v1/tickets/{number}/reveal/ {"reason"}``: the citizen's contact, logged as an event."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.RevealInput, responses=inline_serializer("Contact", {"name": drf_serializers.CharField(), "phone": drf_serializers.CharField()}))
    def post(self, request, number: str):
        ticket = _ticket_for(request, number)
        data = s.RevealInput(data=request.data)
        data.is_valid(raise_exception=True)
        actions.reveal_contact(ticket, reason=data.validated_data["reason"], by=request.user)
        citizen = ticket.citizen
        return Response({"name": citizen.name if citizen else "", "phone": citizen.phone if citizen else ""})


class MyQueue(ListAPIView):
    """What the calling user should work on next, ordered by deadline."""

    permission_classes = [StaffOnly]
    serializer_class = s.TicketSerializer

    def get_queryset(self):
        return selectors.queue_for(self.request.user)


class Departments(ListAPIView):
    permission_classes = [StaffOnly]
    serializer_class = s.DepartmentSerializer
    queryset = Department.objects.all().order_by("code")
    pagination_class = None


class Categories(ListAPIView):
    permission_classes = [StaffOnly]
    serializer_class = s.CategorySerializer
    queryset = Category.objects.all().order_by("path")
    pagination_class = None


class Areas(ListAPIView):
    permission_classes = [StaffOnly]
    serializer_class = s.AreaSerializer
    queryset = Area.objects.all().order_by("path")
    pagination_class = None


class Catalogue(ListAPIView):
    """``GET /api/v1/catalogue/``: the active entries of the dispatch catalogue (派单目录), the ones a dispute may cite."""

    permission_classes = [StaffOnly]
    serializer_class = s.CatalogueRuleSerializer
    queryset = DispatchRule.objects.filter(active=True).select_related("category", "area", "department")
    pagination_class = None


class EmergencyLines(APIView):
    """``GET /api/v1/emergency-lines/``: the transfer list (移交目录) — the active lines (110, 119, 120, 122 …), the
    matters each takes and the words that suggest it (agents, dispatchers, supervisors)."""

    permission_classes = [StaffOnly]

    @extend_schema(responses={200: s.EmergencyLineSerializer(many=True)})
    def get(self, request):
        if request.user.role not in HOTLINE_ROLES:
            raise NotAllowed(_("只有话务员、派单员和督办可以查看移交目录"))
        return Response(s.EmergencyLineSerializer(linkage.active_lines(), many=True).data)


class Classify(APIView):
    """``POST /api/v1/classify/ {"text", "title"?}``: the learned proposal for a message (agents, dispatchers, supervisors)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        request=s.ClassifyInput,
        responses={
            200: inline_serializer(
                "Classification",
                {
                    "categories": inline_serializer(
                        "ProposedCategory",
                        {"id": drf_serializers.IntegerField(), "name": drf_serializers.CharField(), "path_names": drf_serializers.ListField(child=drf_serializers.CharField()),
                         "score": drf_serializers.FloatField(), "leaf_score": drf_serializers.FloatField()},
                        many=True,
                    ),
                    "type": drf_serializers.ChoiceField(choices=TicketType.choices),
                    "area": inline_serializer("ProposedArea", {"id": drf_serializers.IntegerField(), "name": drf_serializers.CharField()}, allow_null=True),
                    "department": inline_serializer("ProposedDepartment", {"id": drf_serializers.IntegerField(), "code": drf_serializers.CharField(), "name": drf_serializers.CharField()}, allow_null=True),
                    "life_safety_cues": drf_serializers.ListField(child=drf_serializers.CharField()),
                    "terms": drf_serializers.ListField(child=drf_serializers.CharField()),
                    "model": inline_serializer("ModelVersion", {"version": drf_serializers.CharField(), "trained_at": drf_serializers.DateTimeField(), "examples": drf_serializers.IntegerField()}),
                },
            )
        },
    )  # fmt: skip
    def post(self, request):
        if request.user.role not in HOTLINE_ROLES:
            raise NotAllowed(_("只有话务员、派单员和督办可以使用智能分类"))
        data = s.ClassifyInput(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = intelligence.classify(v["text"], v["title"], address=v["address"])
        if result is None:
            raise NotReady(_("分类模型尚未训练或无法加载，请运行 manage.py train_classifier"), code="no_model")
        return Response(result.as_dict())


class Repeats(APIView):
    """``POST /api/v1/repeats/ {"text", "title"?, "phone"?, "address"?, "area"?}``: earlier tickets about the same
    problem (重复件 of this caller, 同类件 of others), for the agent registering a call (hotline roles)."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.RepeatsInput, responses={200: s.RepeatsOutput})
    def post(self, request):
        if request.user.role not in HOTLINE_ROLES:
            raise NotAllowed(_("只有话务员、派单员和督办可以查询重复件"))
        data = s.RepeatsInput(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        area = Area.objects.filter(pk=v["area"]).first() if v["area"] else None
        if v["area"] and area is None:
            raise drf_serializers.ValidationError({"area": [_("区域不存在")]})
        found = repeats.find(title=v["title"], text=v["text"], phone=v["phone"], address=v["address"], area=area)
        return Response(s.RepeatsOutput(found).data)


class HotIssues(APIView):
    """``GET /api/v1/hotspots/issues/?from=&to=&limit=``: hot issues of a period, hottest first (supervisors, dispatchers)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        parameters=[*PERIOD_PARAMETERS, OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100})],
        responses={200: inline_serializer("HotIssues", {"results": s.HotIssueSerializer(many=True)})},
    )
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看热点问题"))
        query = s.HotIssueQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        end = v.get("to") or timezone.now()
        start = v.get("from_") or end - hotissues.DEFAULT_PERIOD
        return Response({"results": s.HotIssueSerializer(hotissues.ranked(start=start, end=end, limit=v["limit"]), many=True).data})


class ReplyAssess(APIView):
    """``POST /api/v1/replies/assess/ {"reply", "message"?, "ticket"?, "basis"?}``: the review of a reply — relevance,
    completeness, buck-passing, boilerplate, timeliness, with the reasons (dispatchers, supervisors, and department
    staff: a ``ticket`` must be one they see, and gives the assessment its address and deadline)."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.ReplyAssessInput, responses={200: s.ReplyAssessmentSerializer})
    def post(self, request):
        role = request.user.role
        if role not in {Role.DISPATCHER, Role.SUPERVISOR, Role.DEPARTMENT}:
            raise NotAllowed(_("只有派单员、督办和承办单位可以评估答复"))
        data = s.ReplyAssessInput(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["ticket"]:  # a department's own tickets only (404 otherwise, as for a missing one)
            ticket = _ticket_for(request, v["ticket"])
            result = reviews.assess_draft(ticket, v["reply"], basis=v["basis"])
        else:
            result = review.assess(v["message"], v["reply"], basis=v["basis"])
        return Response(result.as_dict())


class ReplyQuality(APIView):
    """``GET /api/v1/kpis/replies/?from=&to=``: reply review per department over a period (supervisors, dispatchers)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        parameters=PERIOD_PARAMETERS,
        responses={200: inline_serializer("ReplyQualityReport", {"from": drf_serializers.DateField(), "to": drf_serializers.DateField(), "results": s.ReplyQualitySerializer(many=True)})},
    )
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看考核指标"))
        query = s.PeriodQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        start, end, first, last = kpis.period(v.get("from_"), v.get("to"))
        return Response({"from": first, "to": last, "results": s.ReplyQualitySerializer(reviews.quality(start, end), many=True).data})


class DisputeKpis(APIView):
    """``GET /api/v1/kpis/disputes/?from=&to=``: 派单异议 per department and per catalogue entry, and the
    catalogue changes upheld disputes propose (supervisors, dispatchers)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        parameters=PERIOD_PARAMETERS,
        responses={
            200: inline_serializer(
                "DisputeReport",
                {
                    "from": drf_serializers.DateField(), "to": drf_serializers.DateField(), "totals": s.DisputeTotals(),
                    "departments": s.DisputeDepartmentRow(many=True), "rules": s.DisputeRuleRow(many=True), "proposals": s.DisputeProposal(many=True),
                },
            )
        },
    )  # fmt: skip
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看考核指标"))
        query = s.PeriodQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        start, end, first, last = kpis.period(v.get("from_"), v.get("to"))
        return Response({"from": first, "to": last, **disputes.report(start, end)})


class Kpis(APIView):
    """``GET /api/v1/kpis/?from=&to=&by=department|category|area|day`` (supervisors and dispatchers)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        parameters=[*PERIOD_PARAMETERS, BY_PARAMETER],
        responses={
            200: inline_serializer(
                "KpiReport",
                {
                    "from": drf_serializers.DateField(), "to": drf_serializers.DateField(),
                    "by": drf_serializers.CharField(allow_null=True, allow_blank=True),
                    "definitions": drf_serializers.DictField(help_text="each KPI's name, numerator and denominator"),
                    "totals": drf_serializers.DictField(help_text="each KPI: value, numerator, denominator"),
                    "groups": drf_serializers.ListField(child=drf_serializers.DictField(), help_text="per department, category, area or day"),
                },
            )
        },
    )  # fmt: skip
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看考核指标"))
        query = s.KpiQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        report = kpis.compute(start=v.get("from_"), end=v.get("to"), by=v.get("by") or None)
        return Response(report)



# --- 分档分类评价: exclusions, appeals and the ratings report (routing.ratings) ----------------
def _body(request) -> dict:
    return request.data if isinstance(request.data, dict) else {}


class TicketKpiExclusion(APIView):
    """``POST /api/v1/tickets/{number}/kpi-exclusions/ {"subject", "reason", "event"?}``: 不纳入考核 of one
    rating or red card of the ticket, with a reason (supervisors). 409 when there is none to leave out,
    it is left out already, or an appeal about it waits for its decision."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.KpiExclusionInput, responses={201: s.KpiExclusionSerializer})
    def post(self, request, number: str):
        if request.user.role != Role.SUPERVISOR:
            raise NotAllowed(_("只有督办人员可以设置不纳入考核"))
        ticket = _ticket_for(request, number)
        data = s.KpiExclusionInput(data=_body(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        exclusion = actions.exclude_from_assessment(ticket, subject=v["subject"], reason=v["reason"], event_id=v["event"], by=request.user)
        return Response(s.KpiExclusionSerializer(exclusion).data, status=status.HTTP_201_CREATED)


class TicketAppeals(APIView):
    """``POST /api/v1/tickets/{number}/appeals/ {"subject", "reason", "event"?}``: 复核申诉 of an unsatisfied
    rating or a red card of the department's own, within 5 working days of it (department staff).
    409 when there is none, it was appealed already, or the window has closed."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.AppealInput, responses={201: s.AppealSerializer})
    def post(self, request, number: str):
        if request.user.role != Role.DEPARTMENT:
            raise NotAllowed(_("只有承办单位可以申请复核"))
        ticket = _ticket_for(request, number)
        data = s.AppealInput(data=_body(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        appeal = actions.file_appeal(ticket, subject=v["subject"], reason=v["reason"], event_id=v["event"], by=request.user)
        return Response(s.AppealSerializer(appeal).data, status=status.HTTP_201_CREATED)


class Appeals(APIView):
    """``GET /api/v1/appeals/?outcome=pending|upheld|rejected``: appeals, pending first by deadline —
    every one for supervisors, their own for department staff."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[s.AppealQuery], responses={200: inline_serializer("AppealList", {"results": s.AppealSerializer(many=True)})})
    def get(self, request):
        if request.user.role not in {Role.SUPERVISOR, Role.DEPARTMENT}:
            raise NotAllowed(_("只有督办人员和承办单位可以查看复核申诉"))
        query = s.AppealQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        found = _appeals_of(request, query.validated_data["outcome"])
        return Response({"results": s.AppealSerializer(found, many=True).data})


class AppealDecision(APIView):
    """``POST /api/v1/appeals/{id}/decide/ {"upheld", "reason"}`` (supervisors): upheld leaves the rating or
    red card out of the KPIs; 409 when it was decided already."""

    permission_classes = [StaffOnly]

    @extend_schema(request=s.AppealDecisionInput, responses={200: s.AppealSerializer})
    def post(self, request, appeal_id: int):
        if request.user.role != Role.SUPERVISOR:
            raise NotAllowed(_("只有督办人员可以复核申诉"))
        appeal = KpiAppeal.objects.filter(pk=appeal_id).first()
        if appeal is None:
            raise NotFound(_("没有这条复核申诉"), code="not_found")
        data = s.AppealDecisionInput(data=_body(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decided = actions.decide_appeal(appeal, upheld=v["upheld"], reason=v["reason"], by=request.user)
        return Response(s.AppealSerializer(KpiAppeal.objects.select_related("ticket", "event", "department", "filed_by", "decided_by").get(pk=decided.pk)).data)


class RatingKpis(APIView):
    """``GET /api/v1/kpis/ratings/?from=&to=``: 分档分类评价 — satisfaction per ticket type in three tiers,
    after exclusions; what was left out and why; the appeals per department (supervisors, dispatchers)."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=PERIOD_PARAMETERS, responses={200: s.RatingReport})
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看考核指标"))
        query = s.PeriodQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        return Response(s.RatingReport(ratings.report(v.get("from_"), v.get("to"))).data)


# --- exports ----------------------------------------------------------------------------
_FILE = {(200, "text/csv"): OpenApiTypes.STR, (200, exports.CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY}


class TicketExport(APIView):
    """``GET /api/v1/tickets/export/?format=csv|xlsx&<the list's filters>``: the ticket list a user may see,
    whole, as a file (no contact data); every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[s.ExportFormat, *LIST_PARAMETERS], responses=_FILE)
    def get(self, request):
        query = s.ExportFormat(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {key: value for key, value in _list_query(request).items() if value}
        table = exports.ticket_table(selectors.filtered_list(request.user, filters, search_limit=textsearch.EXPORT_LIMIT, paged_by_engine=False))
        return exports.respond(request, table, query.validated_data["format"], filters)


class KpiExport(APIView):
    """``GET /api/v1/kpis/export/?from=&to=&by=&format=csv|xlsx`` (supervisors and dispatchers): the KPI report
    as a 考核 sheet, e.g. ``by=department`` for a month; every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[*PERIOD_PARAMETERS, BY_PARAMETER, s.ExportFormat], responses=_FILE)
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以导出考核指标"))
        query = s.KpiExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        report = kpis.compute(start=v.get("from_"), end=v.get("to"), by=v.get("by") or None)
        params = {"from": report["from"], "to": report["to"], "by": report["by"] or ""}
        return exports.respond(request, exports.kpi_table(report), v["format"], params)


class DisputeExport(APIView):
    """``GET /api/v1/kpis/disputes/export/?from=&to=&format=csv|xlsx`` (supervisors and dispatchers): the
    派单异议 report per department as a sheet; every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[*PERIOD_PARAMETERS, s.ExportFormat], responses=_FILE)
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以导出考核指标"))
        query = s.PeriodExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        start, end, first, last = kpis.period(v.get("from_"), v.get("to"))
        table = exports.dispute_table(disputes.report(start, end), start=first, end=last)
        return exports.respond(request, table, v["format"], {"from": first.isoformat(), "to": last.isoformat()})


class ReplyQualityExport(APIView):
    """``GET /api/v1/kpis/replies/export/?from=&to=&format=csv|xlsx`` (supervisors and dispatchers): 答复质量
    per department as a sheet; every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[*PERIOD_PARAMETERS, s.ExportFormat], responses=_FILE)
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以导出考核指标"))
        query = s.PeriodExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        start, end, first, last = kpis.period(v.get("from_"), v.get("to"))
        table = exports.reply_quality_table(reviews.quality(start, end), start=first, end=last)
        return exports.respond(request, table, v["format"], {"from": first.isoformat(), "to": last.isoformat()})


class HotIssueExport(APIView):
    """``GET /api/v1/hotspots/issues/export/?from=&to=&limit=&format=csv|xlsx`` (supervisors, dispatchers): the
    hot issues of a period as a sheet, hottest first; every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[*PERIOD_PARAMETERS, OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100}), s.ExportFormat], responses=_FILE)
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以查看热点问题"))
        params = request.query_params.dict()
        fmt = s.ExportFormat(data={"format": params.pop("format", "xlsx")})
        fmt.is_valid(raise_exception=True)
        query = s.HotIssueQuery(data=params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        end = v.get("to") or timezone.now()
        start = v.get("from_") or end - hotissues.DEFAULT_PERIOD
        first, last = timezone.localtime(start).date(), timezone.localtime(end).date()
        table = exports.hot_issue_table(hotissues.ranked(start=start, end=end, limit=v["limit"]), start=first, end=last)
        return exports.respond(request, table, fmt.validated_data["format"], {"from": first.isoformat(), "to": last.isoformat(), "limit": v["limit"]})


class AppealExport(APIView):
    """``GET /api/v1/appeals/export/?outcome=&format=csv|xlsx``: the appeals list as a file (supervisors: all;
    department staff: their own); every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[s.AppealExportQuery], responses=_FILE)
    def get(self, request):
        if request.user.role not in {Role.SUPERVISOR, Role.DEPARTMENT}:
            raise NotAllowed(_("只有督办人员和承办单位可以查看复核申诉"))
        query = s.AppealExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        found = _appeals_of(request, v["outcome"], limit=100_000)
        return exports.respond(request, exports.appeal_table(found), v["format"], {"outcome": v["outcome"]})


class RatingExport(APIView):
    """``GET /api/v1/kpis/ratings/export/?from=&to=&format=csv|xlsx`` (supervisors and dispatchers): the
    ratings per type in three tiers, and every rating or red card left out with its reason; recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[*PERIOD_PARAMETERS, s.ExportFormat], responses=_FILE)
    def get(self, request):
        _desk_only(request, _("只有督办和派单人员可以导出考核指标"))
        query = s.PeriodExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        report = ratings.report(v.get("from_"), v.get("to"), limit=100_000)
        return exports.respond(request, exports.rating_table(report), v["format"], {"from": report["from"], "to": report["to"]})


class QueueExport(APIView):
    """``GET /api/v1/queues/mine/export/?format=csv|xlsx``: the calling user's work queue, whole, in its order,
    as a file (no contact data); every export is recorded."""

    permission_classes = [StaffOnly]

    @extend_schema(parameters=[s.ExportFormat], responses=_FILE)
    def get(self, request):
        query = s.ExportFormat(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        table = exports.ticket_table(selectors.queue_for(request.user), kind="queue", title=_("我的待办"))
        return exports.respond(request, table, query.validated_data["format"], {})
