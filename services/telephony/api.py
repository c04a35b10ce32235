"""``/api/v1/calls/missed/``: the missed calls to call back (漏接回拨), and recording a call back.

For the hotline's roles (agents, dispatchers, supervisors), who see the caller's number: they call it.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from hotline.fields import Text
from routing import exports, kpis
from routing.api.serializers import ExportFormat, PeriodExportQuery
from routing.api.views import PERIOD_PARAMETERS
from routing.models import mask_name
from routing.phones import mask_phone
from services.telephony import callbacks
from services.telephony.models import CallRecord

LIMIT = 200


class MissedCall(serializers.Serializer):
    call_sid = serializers.CharField()
    phone = serializers.CharField(source="from_number")
    citizen = serializers.SerializerMethodField()
    called_at = serializers.DateTimeField(source="created_at")
    status = serializers.CharField()
    menu_choice = serializers.CharField(allow_blank=True)
    queue_time = serializers.IntegerField(allow_null=True, help_text="seconds waited in the queue")
    callback_due_at = serializers.DateTimeField()
    overdue = serializers.SerializerMethodField()
    callback_done_at = serializers.DateTimeField(allow_null=True)
    callback_result = serializers.CharField(allow_blank=True)
    callback_note = serializers.CharField(allow_blank=True)

    def get_citizen(self, call) -> str:
        return call.citizen.name if call.citizen_id else ""

    def get_overdue(self, call) -> bool:
        return call.callback_done_at is None and call.callback_due_at < timezone.now()


class MissedCallResultInput(serializers.Serializer):
    result = serializers.ChoiceField(choices=CallRecord.CallbackResult.choices)
    note = Text(required=False, allow_blank=True, max_length=500, default="")


class MissedCalls(APIView):
    """``GET /api/v1/calls/missed/``: the missed calls still to call back, the earliest deadline first."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="calls_missed",
        responses={200: inline_serializer("MissedCalls", {"count": serializers.IntegerField(), "results": MissedCall(many=True)})},
    )
    def get(self, request):
        callbacks.check_may_call_back(request.user)
        pending = callbacks.due()
        return Response({"count": pending.count(), "results": MissedCall(pending[:LIMIT], many=True).data})


class CallBack(APIView):
    """``POST /api/v1/calls/missed/{call_sid}/ {"result", "note"}``: the call back's result (once; 409 after)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="calls_missed_record", request=MissedCallResultInput, responses={200: MissedCall})
    def post(self, request, call_sid: str):
        callbacks.check_may_call_back(request.user)
        data = MissedCallResultInput(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        call = callbacks.record(call_sid, result=data.validated_data["result"], note=data.validated_data["note"], by=request.user)
        return Response(MissedCall(call).data)



def missed_call_table(calls) -> exports.Table:
    """漏接回拨 as a record sheet: every missed call of the period, its deadline and what came of it.
    The caller's number and name are masked: the sheet is for the record, the console is for calling."""
    from django.utils.translation import gettext as _

    headers = [_("来电时间"), _("来电号码"), _("诉求人"), _("状态"), _("排队秒数"), _("回拨时限"), _("回拨时间"), _("回拨结果"), _("回拨人"), _("备注"), _("超时")]

    def when(value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""

    def rows():
        for call in calls:
            late = (call.callback_done_at or timezone.now()) > call.callback_due_at
            yield [
                when(call.created_at), mask_phone(call.from_number), mask_name(call.citizen.name) if call.citizen_id else "", call.get_status_display(),
                call.queue_time if call.queue_time is not None else "", when(call.callback_due_at), when(call.callback_done_at),
                call.get_callback_result_display() if call.callback_result else "", call.callback_by.get_username() if call.callback_by_id else "",
                call.callback_note, _("是") if late else _("否"),
            ]  # fmt: skip

    return exports.Table(kind="missed_calls", title=_("漏接回拨"), headers=headers, rows=rows())


class MissedCallExport(APIView):
    """``GET /api/v1/calls/missed/export/?from=&to=&format=csv|xlsx``: every missed call of the period (called
    back or not) with its deadline and result, numbers masked; hotline roles; every export is recorded."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="calls_missed_export", parameters=[*PERIOD_PARAMETERS, ExportFormat], responses={(200, "text/csv"): OpenApiTypes.STR, (200, exports.CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY})
    def get(self, request):
        callbacks.check_may_call_back(request.user)
        query = PeriodExportQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        v = query.validated_data
        lower, upper, first, last = kpis.period(v.get("from_"), v.get("to"))
        calls = (
            CallRecord.objects.filter(callback_due_at__isnull=False, created_at__gte=lower, created_at__lt=upper)
            .select_related("citizen", "callback_by").order_by("created_at", "id")
        )  # fmt: skip
        return exports.respond(request, missed_call_table(calls.iterator()), v["format"], {"from": first.isoformat(), "to": last.isoformat()})
