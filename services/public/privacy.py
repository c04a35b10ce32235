"""The public desk's copies of a citizen's contact data, for retention and export (routing.privacy)."""

from __future__ import annotations

from routing import privacy
from routing.models import Citizen
from services.public.models import ChatMessage, ChatSession, Open311Request


def _anonymize_chats(citizen: Citizen) -> int:
    sessions = ChatSession.objects.filter(ticket__citizen=citizen)
    changed = sessions.update(citizen_name="", citizen_phone="")
    # What the citizen typed may hold their name or number; the transcript note on the ticket stays.
    ChatMessage.objects.filter(session__in=sessions, sender=ChatMessage.Sender.CITIZEN).update(text="")
    return changed


def _export_chats(citizen: Citizen) -> list[dict]:
    records = []
    for session in ChatSession.objects.filter(ticket__citizen=citizen).prefetch_related("messages"):
        records.append(
            {
                "started_at": session.created_at.isoformat(),
                "name": session.citizen_name,
                "phone": session.citizen_phone,
                "messages": [{"sender": m.sender, "text": m.text, "at": m.created_at.isoformat()} for m in session.messages.all()],
            }
        )
    return records


def _anonymize_open311(citizen: Citizen) -> int:
    return Open311Request.objects.filter(ticket__citizen=citizen).update(email="", device_id="", account_id="")


def _export_open311(citizen: Citizen) -> list[dict]:
    rows = Open311Request.objects.filter(ticket__citizen=citizen).values("service_code", "email", "device_id", "account_id", "created_at")
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def register() -> None:
    privacy.register_holder(privacy.PersonalDataHolder("public.chats", anonymize=_anonymize_chats, export=_export_chats))
    privacy.register_holder(privacy.PersonalDataHolder("public.open311", anonymize=_anonymize_open311, export=_export_open311))
