"""``/api/v1/calls/missed/``: the missed calls to call back (漏接回拨), and recording a call back.

For the hotline's roles (agents, dispatchers, supervisors), who see the caller's number: they call it.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from hotline.fields import Text
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

