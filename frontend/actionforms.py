"""The forms of the steps a user may take on a ticket, for the workspaces and the ticket page.

Each available transition (``routing.actions.available_transitions``) with a
label becomes an ``ActionForm``: its label, whether it is secondary (both from
the transition's declaration, ``routing.transitions``), the fields of the API
body it names as its input and how the page's script types them; one without
fields is a single click. The forms post to ``/api/v1/tickets/{number}/{transition}/``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from routing import actions, deadlines, linkage, transitions
from routing.models import Department, DispatchRule, EmergencyLine, Ticket, User
from routing.states import Satisfaction, State

# The order buttons appear in: the usual next step first, refusals last (a step not listed comes last).
ORDER = [
    "accept", "dispatch", "reply", "approve_reply", "approve_return", "approve_extension", "callback", "close", "resolve",
    "sub_dispatch", "request_extension", "urge", "supervise", "reopen", "merge", "request_return", "reject_reply",
    "reject_return", "reject_extension", "transfer", "decline", "withdraw",
]  # fmt: skip


@dataclass
class Field:
    """One input of an action form; ``kind`` tells the template and ``type`` the script (text, int, bool, list)."""

    name: str
    label: str
    kind: str = "textarea"  # textarea, text, number, select, multiselect, yesno
    type: str = "text"
    required: bool = True
    choices: list[tuple[str, str]] = field(default_factory=list)
    initial: str = ""
    maxlength: int = 4000
    maximum: int | None = None  # of a number
    help: list[str] = field(default_factory=list)  # lines shown under the input (e.g. what each line takes)

    @property
    def options_html(self) -> SafeString:
        """The ``<option>`` elements of a select, rendered once per page for all the cards
        that offer the same choices (a dispatcher's page repeats the department list)."""
        return _options(tuple(self.choices), self.initial)


@functools.lru_cache(maxsize=256)
def _options(choices: tuple[tuple[str, str], ...], initial: str) -> SafeString:
    selected = mark_safe(" selected")
    return format_html_join("", '<option value="{}"{}>{}</option>', ((value, selected if value == initial else "", label) for value, label in choices))


@dataclass
class ActionForm:
    name: str
    label: str
    fields: list[Field]
    one_click: bool
    secondary: bool


def _reason(label=_("理由"), required=True) -> Field:
    return Field("reason", str(label), required=required)


def _category_field(ticket: Ticket) -> Field:
    """The category the dispatcher files the ticket under: the classifier's candidates, the proposed one preselected."""
    choices = [("", str(_("不改变分类")))]
    if ticket.category_id:
        choices.append((str(ticket.category_id), ticket.category.name))  # joined by the queue selectors: no query per card
    for candidate in (ticket.proposal or {}).get("categories", []):
        if str(candidate["id"]) not in {value for value, _label in choices}:
            choices.append((str(candidate["id"]), f"{' › '.join(candidate['path_names'])}（{round(candidate['score'] * 100)}%）"))
    initial = str(ticket.category_id or ticket.proposed_category_id or "")
    return Field("category", str(_("分类")), kind="select", type="int", required=False, choices=choices, initial=initial)


def _suggested(ticket: Ticket) -> str:
    """The department the disputing department suggested, preselected for 改派."""
    dispute = getattr(ticket, "pending_dispute", None)
    return dispute.suggested_department.code if dispute is not None and dispute.suggested_department_id else ""


def lead_departments() -> list[tuple[str, str]]:
    """Active level-2 departments (bureaus, district governments, companies): the ones a ticket is dispatched to."""
    return [(d.code, d.name) for d in Department.objects.filter(active=True, parent__isnull=True).order_by("code")]


def units_of(department_ids) -> dict[int, list[tuple[str, str]]]:
    """The active lower-level units of each department (the sub-dispatch picker), in one query."""
    units: dict[int, list[tuple[str, str]]] = {pk: [] for pk in department_ids if pk}
    for unit in Department.objects.filter(parent_id__in=list(units), active=True).order_by("code"):
        units[unit.parent_id].append((unit.code, unit.name))
    return units


# States from which a department may file a 退单 / 派单异议 (its form lists the catalogue).
CITING_STATES = frozenset({State.DISPATCHED, State.ACCEPTED})


def catalogue_entries() -> list[tuple[str, str]]:
    """The active dispatch-catalogue entries a dispute may cite: "entry → department"."""
    rules = DispatchRule.objects.filter(active=True).select_related("department").order_by("department__code", "name")
    return [(str(r.pk), f"{r.name} → {r.department.name}") for r in rules]


def transfer_fields(ticket: Ticket, lines: list[EmergencyLine] | None = None) -> list[Field]:
    """移交: the line (the one whose keywords the matter matches preselected and marked), the matters each
    line takes shown under the picker, the reason, and the line's reference when already known."""
    lines = list(linkage.active_lines()) if lines is None else lines
    suggested = linkage.suggest(f"{ticket.title} {ticket.description}", lines)
    choices = [(line.code, f"{line.name}（{_('建议')}）" if line == suggested else line.name) for line in lines]
    matters = [f"{line.name}：{'、'.join(line.matter_list())}" for line in lines if line.matter_list()]
    return [
        Field("line", str(_("移交至")), kind="select", choices=choices, initial=suggested.code if suggested else "", help=matters),
        _reason(_("移交理由")),
        Field("reference", str(_("对方编号（接警号，可稍后登记）")), kind="text", required=False, maxlength=64),
    ]


def fields_for(
    name: str,
    ticket: Ticket,
    user: User,
    *,
    departments: list[tuple[str, str]] | None = None,
    units: dict[int, list[tuple[str, str]]] | None = None,
    catalogue: list[tuple[str, str]] | None = None,
    lines: list[EmergencyLine] | None = None,
) -> list[Field]:
    """The inputs of the API body transition ``name`` takes (its declared input), with sensible initial values for ``ticket``."""
    body = transitions.step(name).input
    yes_no = [("true", str(_("是"))), ("false", str(_("否")))]
    if body == "EmptyInput":
        return []
    if body == "ReasonInput":
        return [_reason()]
    if body == "OptionalReasonInput":
        return [_reason(required=False)]
    if body == "NoteInput":
        return [Field("note", str(_("说明")), required=False, maxlength=2000)]
    if body == "ResolveInput":
        return [Field("answer", str(_("答复内容")))]
    if body == "TransferInput":
        return transfer_fields(ticket, lines)
    if body == "ReturnInput":
        choices = departments if departments is not None else lead_departments()
        entries = catalogue if catalogue is not None else catalogue_entries()
        return [
            _reason(),
            Field("cited_rule", str(_("依据的派单目录条目")), kind="select", type="int", required=False, choices=[("", "—"), *entries]),
            Field("suggested_department", str(_("建议承办单位")), kind="select", required=False, choices=[("", "—"), *choices]),
        ]
    if body == "ApproveReturnInput":
        choices = departments if departments is not None else lead_departments()
        return [
            Field("department", str(_("改派至（可不选，稍后再派）")), kind="select", required=False, choices=[("", "—"), *choices], initial=_suggested(ticket)),
            _reason(_("说明"), required=False),
        ]
    if body == "DispatchInput":
        choices = departments if departments is not None else lead_departments()
        initial = ticket.proposed_department.code if ticket.proposed_department_id else ""
        return [
            Field("department", str(_("主办单位")), kind="select", choices=choices, initial=initial),
            _category_field(ticket),
            Field("assisting", str(_("协办单位（可多选）")), kind="multiselect", type="list", required=False, choices=choices),
        ]
    if body == "SubDispatchInput":
        choices = (units if units is not None else units_of([ticket.department_id])).get(ticket.department_id, [])
        return [Field("unit", str(_("下级单位")), kind="select", choices=choices)]
    if body == "ExtensionInput":
        most = deadlines.MAX_EXTENSION_DAYS
        return [Field("days", str(_("延期工作日数（1–%(n)d）") % {"n": most}), kind="number", type="int", initial="3", maximum=most), _reason()]
    if body == "ReplyInput":
        return [
            Field("founded", str(_("诉求是否属实")), kind="yesno", type="bool", choices=yes_no),
            Field("solved", str(_("是否已解决")), kind="yesno", type="bool", choices=yes_no),
            Field("text", str(_("答复内容（市民可见）")), maxlength=8000),
            Field("basis", str(_("政策依据")), required=False),
        ]
    if body == "CallbackInput":
        return [
            Field("reached", str(_("是否联系上诉求人")), kind="yesno", type="bool", choices=yes_no, initial="true"),
            Field("solved", str(_("诉求是否解决")), kind="yesno", type="bool", required=False, choices=[("", str(_("未知"))), *yes_no]),
            Field("satisfaction", str(_("满意度")), kind="select", required=False, choices=[("", "—"), *[(v, str(label)) for v, label in Satisfaction.choices]]),
        ]
    if body == "MergeInput":
        return [Field("into", str(_("并入工单号")), kind="text", maxlength=20)]
    raise LookupError(f"no form for {name}'s input {body}: add its fields here")


def forms_for(
    ticket: Ticket,
    user: User,
    *,
    only: set[str] | None = None,
    departments: list[tuple[str, str]] | None = None,
    units: dict[int, list[tuple[str, str]]] | None = None,
    catalogue: list[tuple[str, str]] | None = None,
    lines: list[EmergencyLine] | None = None,
) -> list[ActionForm]:
    """An ``ActionForm`` for every step ``user`` may take on ``ticket`` now (limited to ``only`` when given).
    A list of tickets passes ``departments``, ``units`` and ``lines`` read once for all of them."""
    result = []
    for name in sorted(actions.available_transitions(ticket, user), key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
        step = transitions.step(name)
        if step.label is None or (only is not None and name not in only):
            continue
        fields = fields_for(name, ticket, user, departments=departments, units=units, catalogue=catalogue, lines=lines)
        result.append(ActionForm(name=name, label=str(step.label), fields=fields, one_click=not fields, secondary=step.secondary))
    return result
