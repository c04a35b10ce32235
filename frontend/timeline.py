"""A ticket's timeline as staff read it: one row per TicketEvent, labelled and with its details."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from routing.models import TicketEvent
from routing.phones import text_for
from routing.roles import Role
from routing.states import EventKind, Satisfaction, State

KIND_LABELS = dict(EventKind.choices)

# data key → label; only these are shown (ids and internal flags are not).
DETAIL_LABELS = {
    "department_name": _("单位"), "unit_name": _("下级单位"), "reason": _("理由"), "note": _("说明"), "text": _("内容"),
    "answer": _("答复"), "days": _("延期天数"), "handle_due": _("新办结时限"), "into": _("并入"), "channel": _("渠道"),
    "satisfaction": _("满意度"), "reached": _("联系上"), "solved": _("已解决"), "founded": _("属实"), "on_time": _("按时"),
    "deadline": _("时限"), "cited_rule_name": _("依据目录"), "suggested_department_name": _("建议承办单位"),
    "decide_due": _("裁定期限"), "redispatched_to_name": _("改派至"), "what": _("事项"), "line_name": _("移交至"), "reference": _("对方编号"),
    "previous_reference": _("原对方编号"), "referred_from_name": _("转来单位"), "referral_reference": _("转来编号"),
}  # fmt: skip

ROLE_LABELS = dict(Role.choices)
SATISFACTION_LABELS = dict(Satisfaction.choices)


@dataclass
class Row:
    at: object
    kind: str
    label: str
    actor: str
    department: str
    to_state: str
    details: list[tuple[str, str]] = field(default_factory=list)
    public: bool = False


def _value(key: str, value) -> str:
    if isinstance(value, bool):
        return str(_("是") if value else _("否"))
    if value is None or value == "":
        return "—"
    if key == "satisfaction":
        return str(SATISFACTION_LABELS.get(value, value))
    if key == "channel":
        from routing.states import Channel

        return str(dict(Channel.choices).get(value, value))
    if key == "deadline":
        return str({"accept": _("签收"), "handle": _("办结")}.get(value, value))
    if key == "decide_due":
        when = parse_datetime(str(value))
        return f"{timezone.localtime(when):%Y-%m-%d %H:%M}" if when else str(value)
    return str(value)


def rows(events: Iterable[TicketEvent], viewer=None) -> list[Row]:
    """Label every event; the details are plain strings, escaped by the template like everything else.

    What citizens wrote (a chat transcript, a voicemail's transcription, notes) is shown with its phone
    numbers masked to anyone who does not see the citizen's contact (``routing.phones.text_for``).
    """
    states = dict(State.choices)
    result = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        details = [(str(label), text_for(viewer, _value(key, data[key]))) for key, label in DETAIL_LABELS.items() if key in data]
        actor = event.actor.get_username() if event.actor_id else str(ROLE_LABELS.get(event.actor_role, event.actor_role))
        result.append(
            Row(
                at=event.created_at,
                kind=event.kind,
                label=str(KIND_LABELS.get(event.kind, event.kind)),
                actor=actor,
                department=event.department.name if event.department_id else "",
                to_state=str(states.get(event.to_state, "")) if event.to_state and event.to_state != event.from_state else "",
                details=details,
                public=event.public,
            )
        )
    return result
