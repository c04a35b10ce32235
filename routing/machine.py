"""The 12345 state machine: every transition of a ticket, declared with django-fsm.

Transitions declare (source → target, condition, who may call them); their
bodies only change fields. Deadlines, events and side effects are the
business of the named functions in ``routing.actions``, which are the only
callers of these methods.

Permissions receive an ``routing.roles.Actor``. Department staff act only on
tickets of their own department.

Everything else the code knows about a transition is declared on it, in
django-fsm's ``custom=`` (read through ``routing.transitions``; the API, the
action forms, the timeline, the tracking page and the OpenAPI schema are
derived from it):

- ``kind``: the ``EventKind`` of the one event it writes
- ``label``: its button (none: no person takes this step)
- ``input``: the serializer of its request body in ``routing.api.serializers``,
  by name (the domain does not import the API); none: not on the API
- ``public``: its event is on the citizen's tracking page, named ``citizen_label``
- ``secondary``: it undoes or refuses something (a secondary button, offered last)
- ``note``: what the API schema says of it besides its body
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, transition

from routing.roles import HOTLINE_ROLES, Actor, Role
from routing.states import EventKind, Satisfaction, State

S = State
K = EventKind


# --- who may act ------------------------------------------------------------
def _roles(*roles: str):
    allowed = frozenset(roles)

    def permission(ticket, actor: Actor) -> bool:
        return actor.role in allowed

    permission.roles = allowed  # read by the README's permission table
    return permission


def _handling_department(ticket, actor: Actor) -> bool:
    """Staff of the department that has the ticket now (主办 or, after sub-dispatch, the unit)."""
    return actor.role == Role.DEPARTMENT and actor.department is not None and actor.department.pk == ticket.department_id


_handling_department.roles = frozenset({Role.DEPARTMENT})

HOTLINE = _roles(*HOTLINE_ROLES)
DISPATCH_DESK = _roles(Role.DISPATCHER, Role.SUPERVISOR)
DISPATCH_OR_RULE = _roles(Role.DISPATCHER, Role.SUPERVISOR, Role.SYSTEM)
FIRST_CONTACT = _roles(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)
SUPERVISION = _roles(Role.SUPERVISOR)
URGING = _roles(Role.SUPERVISOR, Role.DISPATCHER)
CALLBACK = _roles(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.CITIZEN, Role.SYSTEM)
WITHDRAWAL = _roles(Role.CITIZEN, Role.AGENT)
SYSTEM_ONLY = _roles(Role.SYSTEM)


def _extension_approver(ticket, actor: Actor) -> bool:
    """The first extension is the dispatcher's to approve; a further one needs a supervisor (higher approval)."""
    if ticket.extension_count >= 1:
        return actor.role == Role.SUPERVISOR
    return actor.role in {Role.DISPATCHER, Role.SUPERVISOR}


_extension_approver.roles = frozenset({Role.DISPATCHER, Role.SUPERVISOR})
_extension_approver.note = "a second extension: supervisor only"


def _closer(ticket, actor: Actor) -> bool:
    """Close after the callback; an unsatisfied ticket is closed as settled only by the dispatch desk."""
    if ticket.satisfaction == Satisfaction.UNSATISFIED:
        return actor.role in {Role.DISPATCHER, Role.SUPERVISOR}
    return actor.role in {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.SYSTEM}


_closer.roles = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.SYSTEM})
_closer.note = "unsatisfied: dispatcher or supervisor only (settled)"


# --- conditions (no side effects) --------------------------------------------
def within_return_window(ticket) -> bool:
    """退单 only within the return window after dispatch (2 working days by default)."""
    return ticket.return_until is None or timezone.now() <= ticket.return_until


def no_extension_pending(ticket) -> bool:
    return not ticket.extension_pending


def extension_pending(ticket) -> bool:
    return ticket.extension_pending


def was_unsatisfied(ticket) -> bool:
    return ticket.satisfaction == Satisfaction.UNSATISFIED


class TicketMachine:
    """Mixed into ``routing.models.Ticket``; the field is ``state``."""

    @transition(
        field="state", source=S.REGISTERED, target=S.CLOSED, permission=FIRST_CONTACT,
        custom={"kind": K.RESOLVED, "label": _("直接办结"), "input": "ResolveInput", "public": True, "citizen_label": _("已直接答复并办结")},
    )
    def resolve(self, *, answer: str, at):
        """直接办结: answered at first contact."""
        self.resolution = answer
        self.closed_at = at
        self._clear_deadlines()

    @transition(
        field="state", source=S.REGISTERED, target=S.DECLINED, permission=FIRST_CONTACT,
        custom={"kind": K.DECLINED, "label": _("不予受理"), "input": "ReasonInput", "public": True, "citizen_label": _("不予受理"), "secondary": True},
    )
    def decline(self, *, reason: str, at):
        """不予受理: out of scope (a matter of 110/119/120/122 is transferred instead)."""
        self.decline_reason = reason
        self.closed_at = at
        self._clear_deadlines()

    @transition(
        field="state", source=S.REGISTERED, target=S.TRANSFERRED, permission=FIRST_CONTACT,
        custom={
            "kind": K.TRANSFERRED, "label": _("移交110/119/120/122"), "input": "TransferInput", "public": True, "citizen_label": _("已移交"),
            "secondary": True,
            "note": (
                "移交 to 110/119/120/122 (``line`` is a code of GET /api/v1/emergency-lines/), with the reason and the line's "
                "reference when known; a ticket of a phone call also has the live call put through to the line."
            ),
        },
    )
    def transfer(self, *, line, reason: str, reference: str, at):
        """移交: the matter is an emergency line's (110 警情, 119 火警, 120 急救, 122 交通事故); its reference may come later."""
        self.transferred_to = line
        self.transfer_reason = reason
        self.transfer_reference = reference
        self.closed_at = at
        self._clear_deadlines()

    @transition(
        field="state", source=S.REGISTERED, target=S.DISPATCHED, permission=DISPATCH_OR_RULE,
        custom={
            "kind": K.DISPATCHED, "label": _("派单"), "input": "DispatchInput", "public": True, "citizen_label": _("已派单"),
            "note": "派单: to a lead department, optionally with assisting ones and a corrected category.",
        },
    )
    def dispatch(self, *, department, at, accept_due, handle_due, return_until, warn_at):
        """派单 to a lead department (assisting ones are set by the caller: a relation, not a field)."""
        self.department = department
        self.parent_department = None
        self.dispatched_at = at
        self.accepted_at = None
        self.return_until = return_until
        self.accept_due = accept_due
        self.handle_due = handle_due
        self.handle_settled_at = None  # a new handling round
        self._run_deadline(accept_due, warn_at)

    @transition(
        field="state", source=[S.DISPATCHED, S.ACCEPTED], target=S.DISPATCHED, permission=_handling_department,
        custom={"kind": K.SUB_DISPATCHED, "label": _("二级派单"), "input": "SubDispatchInput"},
    )
    def sub_dispatch(self, *, unit, accept_due, warn_at):
        """二级派单: a level-2 unit hands the ticket down to one of its own units."""
        self.parent_department = self.department
        self.department = unit
        self.accepted_at = None
        self.accept_due = accept_due
        self._run_deadline(accept_due, warn_at)

    @transition(
        field="state", source=S.DISPATCHED, target=S.ACCEPTED, permission=_handling_department,
        custom={
            "kind": K.ACCEPTED, "label": _("签收"), "input": "EmptyInput", "public": True, "citizen_label": _("承办单位已签收，正在办理"),
            "note": "签收 by the lead department.",
        },
    )
    def accept(self, *, at, warn_at):
        """签收."""
        self.accepted_at = at
        self._run_deadline(self.handle_due, warn_at)

    @transition(
        field="state", source=[S.DISPATCHED, S.ACCEPTED], target=S.RETURN_REQUESTED, permission=_handling_department, conditions=[within_return_window],
        custom={"kind": K.RETURN_REQUESTED, "label": _("申请退单"), "input": "ReturnInput", "secondary": True},
    )
    def request_return(self, *, reason: str):
        """退单申请, with a reason."""
        self.return_from_state = self.state
        self.return_reason = reason
        self.extension_pending = False

    @transition(
        field="state", source=S.RETURN_REQUESTED, target=S.REGISTERED, permission=DISPATCH_DESK,
        custom={"kind": K.RETURN_APPROVED, "label": _("同意退单"), "input": "ApproveReturnInput"},
    )
    def approve_return(self):
        """退单 approved: back to the dispatcher's queue for re-dispatch."""
        self.department = None
        self.parent_department = None
        self.return_from_state = ""
        self._clear_deadlines()

    @transition(
        field="state", source=S.RETURN_REQUESTED, target=RETURN_VALUE(S.DISPATCHED, S.ACCEPTED), permission=DISPATCH_DESK,
        custom={"kind": K.RETURN_REJECTED, "label": _("驳回退单"), "input": "ReasonInput", "secondary": True},
    )
    def reject_return(self):
        """退单 rejected: back to the department, in the state it asked from."""
        previous = self.return_from_state or S.DISPATCHED
        self.return_from_state = ""
        return previous

    @transition(
        field="state", source=S.ACCEPTED, target=S.ACCEPTED, permission=_handling_department, conditions=[no_extension_pending],
        custom={"kind": K.EXTENSION_REQUESTED, "label": _("申请延期"), "input": "ExtensionInput"},
    )
    def request_extension(self, *, days: int, reason: str):
        """延期申请: the ticket keeps being handled while it is pending."""
        self.extension_pending = True
        self.extension_days = days
        self.extension_reason = reason

    @transition(
        field="state", source=S.ACCEPTED, target=S.ACCEPTED, permission=_extension_approver, conditions=[extension_pending],
        custom={
            "kind": K.EXTENSION_APPROVED, "label": _("同意延期"), "input": "EmptyInput", "public": True, "citizen_label": _("办理时限已延长"),
        },
    )
    def approve_extension(self, *, handle_due, warn_at):
        self.extension_pending = False
        self.extension_count += 1
        self.handle_due = handle_due
        self._run_deadline(handle_due, warn_at)

    @transition(
        field="state", source=S.ACCEPTED, target=S.ACCEPTED, permission=DISPATCH_DESK, conditions=[extension_pending],
        custom={"kind": K.EXTENSION_REJECTED, "label": _("驳回延期"), "input": "OptionalReasonInput", "secondary": True},
    )
    def reject_extension(self):
        self.extension_pending = False

    @transition(
        field="state", source=S.ACCEPTED, target=S.REPLIED, permission=_handling_department,
        custom={
            "kind": K.REPLIED, "label": _("答复"), "input": "ReplyInput",
            "note": "答复 by the lead department; the dispatcher approves or rejects it.",
        },
    )
    def reply(self, *, founded: bool, solved: bool, text: str, basis: str, at):
        """答复: founded?, solved?, the public reply text and its policy basis."""
        self.reply_founded = founded
        self.reply_solved = solved
        self.reply_text = text
        self.reply_basis = basis
        self.replied_at = at
        self.extension_pending = False
        if self.handle_settled_at is None:  # the round's first reply settles its deadline
            self.handle_settled_at = at
        self._clear_running_deadline()

    @transition(
        field="state", source=S.REPLIED, target=S.REPLY_APPROVED, permission=DISPATCH_DESK,
        custom={"kind": K.REPLY_APPROVED, "label": _("审核通过"), "input": "EmptyInput", "public": True, "citizen_label": _("承办单位已答复")},
    )
    def approve_reply(self):
        """审核通过: the reply goes to the citizen, and the callback is due."""

    @transition(
        field="state", source=S.REPLIED, target=S.ACCEPTED, permission=DISPATCH_DESK,
        custom={"kind": K.REPLY_REJECTED, "label": _("退回答复"), "input": "ReasonInput", "secondary": True},
    )
    def reject_reply(self, *, warn_at):
        """审核退回: a poor reply goes back to the department."""
        self._run_deadline(self.handle_due, warn_at)

    @transition(
        field="state", source=S.REPLY_APPROVED, target=S.RATED, permission=CALLBACK,
        custom={
            "kind": K.CALLBACK, "label": _("回访"), "input": "CallbackInput", "public": True, "citizen_label": _("已回访"),
            "note": "回访: the citizen's verdict; unsatisfied reopens within the limit.",
        },
    )
    def callback(self, *, reached: bool, solved: bool | None, satisfaction: str):
        """回访: reached?, solved?, how satisfied."""
        self.callback_reached = reached
        self.callback_solved = solved
        self.satisfaction = satisfaction

    @transition(
        field="state", source=S.RATED, target=S.ACCEPTED, permission=CALLBACK, conditions=[was_unsatisfied],
        custom={"kind": K.REOPENED, "label": _("重办"), "input": "ReasonInput", "public": True, "citizen_label": _("重新办理")},
    )
    def reopen(self, *, handle_due, warn_at):
        """不满意重办: back to the department; the second time puts it under supervision."""
        self.unsatisfied_count += 1
        if self.unsatisfied_count >= 2:
            self.supervised = True
        self.satisfaction = ""
        self.reply_founded = self.reply_solved = None
        self.replied_at = None
        self.handle_due = handle_due
        self.handle_settled_at = None  # a new handling round
        self._run_deadline(handle_due, warn_at)

    @transition(
        field="state", source=S.RATED, target=S.CLOSED, permission=_closer,
        custom={"kind": K.CLOSED, "label": _("办结"), "input": "EmptyInput", "public": True, "citizen_label": _("已办结")},
    )
    def close(self, *, at):
        """办结 / 归档."""
        self.closed_at = at

    @transition(
        field="state", source=[S.DISPATCHED, S.ACCEPTED, S.RETURN_REQUESTED, S.REPLIED], target=None, permission=URGING,
        custom={"kind": K.URGED, "label": _("催办"), "input": "NoteInput"},
    )
    def urge(self):
        """催办 (the state does not change)."""
        self.urge_count += 1

    @transition(
        field="state", source=[S.DISPATCHED, S.ACCEPTED, S.RETURN_REQUESTED, S.REPLIED, S.RATED], target=None, permission=SUPERVISION,
        custom={"kind": K.SUPERVISED, "label": _("督办"), "input": "NoteInput"},
    )
    def supervise(self):
        """督办 (the state does not change)."""
        self.supervised = True

    @transition(
        field="state", source=[S.REGISTERED, S.DISPATCHED], target=S.MERGED, permission=DISPATCH_DESK,
        custom={
            "kind": K.MERGED, "label": _("并单"), "input": "MergeInput", "public": True, "citizen_label": _("已与相同诉求合并办理"), "secondary": True,
            "note": "并单 into another visible ticket (``into`` is its number).",
        },
    )
    def merge(self, *, into, at):
        """并单: this duplicate is handled as part of ``into``."""
        self.merged_into = into
        self.closed_at = at
        self._clear_deadlines()

    @transition(
        field="state", source=S.MERGED, target=S.REPLY_APPROVED, permission=SYSTEM_ONLY,
        custom={"kind": K.REPLY_SHARED, "public": True},
    )
    def share_reply(self, *, main):
        """并单: the main ticket's approved reply reaches this caller too; they are called back and rate on their own."""
        self.department = main.department
        self.reply_founded = main.reply_founded
        self.reply_solved = main.reply_solved
        self.reply_text = main.reply_text
        self.reply_basis = main.reply_basis
        self.replied_at = main.replied_at
        self.closed_at = None

    @transition(
        field="state", source=[S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.RETURN_REQUESTED], target=S.WITHDRAWN, permission=WITHDRAWAL,
        custom={"kind": K.WITHDRAWN, "label": _("撤单"), "input": "OptionalReasonInput", "public": True, "citizen_label": _("已撤单"), "secondary": True},
    )
    def withdraw(self, *, at):
        """撤单, by the citizen (or an agent on the phone for them), only before the reply."""
        self.closed_at = at
        self.extension_pending = False
        self._clear_deadlines()

    # --- field helpers for the bodies above ----------------------------------
    def _run_deadline(self, due, warn_at):
        """A new deadline starts running: its cards start afresh."""
        self.due_at = due
        self.warn_at = warn_at
        self.yellow_card_at = None
        self.red_card_at = None

    def _clear_running_deadline(self):
        self.due_at = None
        self.warn_at = None

    def _clear_deadlines(self):
        self._clear_running_deadline()
        self.accept_due = None
        self.handle_due = None

