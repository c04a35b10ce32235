"""The telephony room's copies of a citizen's contact data, for retention and export (routing.privacy)."""

from __future__ import annotations

from routing import privacy
from routing.models import Citizen
from services.telephony.models import CallRecord, SmsMessage


def _anonymize_calls(citizen: Citizen) -> int:
    return CallRecord.objects.filter(citizen=citizen).update(from_number="", from_digest="", recording_url="", transcription_text="", callback_note="")


def _export_calls(citizen: Citizen) -> list[dict]:
    rows = CallRecord.objects.filter(citizen=citizen).values("call_sid", "from_number", "status", "duration", "transcription_text", "created_at")
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def _anonymize_sms(citizen: Citizen) -> int:
    return SmsMessage.objects.filter(citizen=citizen).update(from_number="", to_number="", phone_digest="", body="")


def _export_sms(citizen: Citizen) -> list[dict]:
    rows = SmsMessage.objects.filter(citizen=citizen).values("direction", "body", "status", "created_at")
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def register() -> None:
    privacy.register_holder(privacy.PersonalDataHolder("telephony.calls", anonymize=_anonymize_calls, export=_export_calls))
    privacy.register_holder(privacy.PersonalDataHolder("telephony.sms", anonymize=_anonymize_sms, export=_export_sms))
