"""Named actions on a ticket: one function per thing a person does.

Each runs in ``transaction.atomic()``: it locks the ticket row, checks who may
act (403) and whether the state allows it (409), calls the FSM transition,
saves, writes exactly one ``TicketEvent`` and queues its side effects in the
outbox. Views, the API, consumers and webhooks call these; nothing else
changes a ticket's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, can_proceed

from routing import deadlines, disputes, effects, ratings, reviews, transitions
from routing.errors import InvalidInput, NotAllowed, TransitionConflict
from routing.models import (
    Category, CategoryCorrection, Department, DispatchDispute, DispatchRule, EmergencyLine, KpiAppeal, KpiExclusion, ReplyReview, Ticket,
    TicketEvent, User,
)  # fmt: skip
from routing.roles import HOTLINE_ROLES, Actor, Role, as_actor
from routing.states import Channel, EventKind, Satisfaction, State

# Transitions by which hotline staff stand by a ticket's category (dispatched, or settled at the hotline).
CONFIRMING = frozenset({"dispatch", "resolve", "close", "callback"})


# transition name → the named function a person calls to take it (``@performs``).
PERFORMERS: dict[str, Callable[..., Ticket]] = {}


def performs(name: str):
    """Marks the function that performs transition ``name``: the API calls it as ``function(ticket, by=user,
    **body)``, the body validated by the serializer the transition names as its input."""
    transitions.step(name)  # a name that is not a transition fails at import

    def register(function):
        PERFORMERS[name] = function
        return function

    return register


@dataclass
class Outcome:
    """What a transition leaves behind besides fields: the event's data and the side effects."""

    data: dict = field(default_factory=dict)
    notify_citizen: list[str] = field(default_factory=list)  # message templates for the citizen


def transition_roles(name: str) -> frozenset[str]:
    """Every role that may call transition ``name`` from some state."""
    meta = getattr(Ticket, name)._django_fsm
    roles: set[str] = set()
    for transition in meta.transitions.values():
        roles |= set(getattr(transition.permission, "roles", ()))
    return frozenset(roles)


def available_transitions(ticket: Ticket, by: User | Actor) -> list[str]:
    """Names of the transitions ``by`` may call on ``ticket`` now."""
    actor = as_actor(by)
    return [t.name for t in ticket.get_available_user_state_transitions(actor)]


def _check(ticket: Ticket, name: str, actor: Actor) -> None:
    if actor.role not in transition_roles(name):
        raise NotAllowed(_("角色「%(role)s」不能执行「%(action)s」") % {"role": actor.role or "-", "action": name}, code="forbidden_role")
    method = getattr(ticket, name)
    if not can_proceed(method, check_conditions=False):
        raise TransitionConflict(
            _("工单当前状态为「%(state)s」，不能执行「%(action)s」") % {"state": ticket.get_state_display(), "action": name},
            code="invalid_state",
            details={"state": ticket.state, "transition": name},
        )
    meta = method._django_fsm
    if not meta.has_transition_perm(ticket, ticket.state, actor):
        raise NotAllowed(_("只有本工单的承办单位可以执行此操作"), code="forbidden_department")
    if not can_proceed(method):
        raise TransitionConflict(
            _("当前不满足「%(action)s」的条件") % {"action": name}, code="condition_failed", details={"state": ticket.state, "transition": name}
        )


def perform(ticket: Ticket, name: str, *, by: User | Actor, apply, outcome: Outcome | None = None) -> Ticket:
    """Run transition ``name`` on a locked copy of ``ticket``.

    ``apply(locked)`` calls the transition method with its arguments (and may
    touch relations); it runs after the checks, inside the transaction.
    """
    actor = as_actor(by)
    outcome = outcome or Outcome()
    try:
        with transaction.atomic():
            locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
            _check(locked, name, actor)
            from_state = locked.state
            department_before = locked.department
            apply(locked)
            if name in CONFIRMING and actor.role in HOTLINE_ROLES and locked.category_id and locked.category_confirmed_at is None:
                locked.category_confirmed_at = timezone.now()  # staff stood by this category: the classifier learns from it
            locked.save()
            event = record_event(
                locked,
                kind=transitions.step(name).kind,
                actor=actor,
                from_state=from_state,
                data=outcome.data,
                department=locked.department or department_before,
            )
            effects.after_transition(locked, event, notify_citizen=outcome.notify_citizen)
    except ConcurrentTransition as exc:
        raise TransitionConflict(_("工单已被他人同时处理，请刷新后重试"), code="concurrent_change") from exc
    return locked


def record_event(
    ticket: Ticket, *, kind: EventKind, actor: Actor, from_state: str = "", data: dict | None = None, department: Department | None = None
) -> TicketEvent:
    """Append one step to the ticket's timeline; a ``kind`` that is not an ``EventKind`` is a ValueError."""
    kind = EventKind(kind)
    data = dict(data or {})
    if actor.user is not None and actor.department is not None and department is not None and actor.department.pk != department.pk:
        data.setdefault("actor_department", actor.department.pk)
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind.value,
        from_state=from_state,
        to_state=ticket.state,
        actor=actor.user,
        actor_role=actor.role,
        department=department,
        data=data,
        public=kind in transitions.PUBLIC_KINDS,
    )


def _required(value: str | None, field_name: str, *, max_length: int = 4000) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(_("请填写%(field)s") % {"field": field_name}, details={field_name: [_("不能为空")]})
    if len(value) > max_length:
        raise InvalidInput(_("%(field)s过长") % {"field": field_name}, details={field_name: [_("最多 %(n)d 字") % {"n": max_length}]})
    return value


# --- the loop ---------------------------------------------------------------
@performs("resolve")
def resolve_ticket(ticket: Ticket, *, answer: str, by) -> Ticket:
    """直接办结: the agent answered at first contact."""
    answer = _required(answer, "answer")
    now = timezone.now()
    return perform(ticket, "resolve", by=by, apply=lambda t: t.resolve(answer=answer, at=now), outcome=Outcome({"answer": answer}))


@performs("decline")
def decline_ticket(ticket: Ticket, *, reason: str, by) -> Ticket:
    """不予受理, with the reason the citizen is told."""
    reason = _required(reason, "reason")
    now = timezone.now()
    return perform(ticket, "decline", by=by, apply=lambda t: t.decline(reason=reason, at=now), outcome=Outcome({"reason": reason}))


MAX_REFERENCE = 64


def _reference(value: str | None, *, required: bool) -> str:
    """Another line's own number for a matter (接警号, 警情号): up to 64 characters."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(_("对方编号须为文本"), details={"reference": [_("须为文本")]})
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(_("请填写对方编号"), details={"reference": [_("不能为空")]})
    if len(value) > MAX_REFERENCE:
        raise InvalidInput(_("对方编号过长"), details={"reference": [_("最多 %(n)d 字") % {"n": MAX_REFERENCE}]})
    return value


@performs("transfer")
def transfer_ticket(ticket: Ticket, *, line: EmergencyLine, reason: str, reference: str = "", by) -> Ticket:
    """移交 110/119/120/122: the matter is the line's, not 12345's. The line's reference (接警号) is kept
    when known (``record_transfer_reference`` adds it later). A ticket of a phone call also has the live call
    redirected to the line's number (outbox ``call.transfer``, delivered by the telephony room); the citizen is
    told by SMS."""
    reason = _required(reason, "reason")
    reference = _reference(reference, required=False)
    if not isinstance(line, EmergencyLine) or not line.active:
        raise InvalidInput(_("该联动单位已停用"), details={"line": [_("已停用")]})
    now = timezone.now()
    data = {"line": line.code, "line_name": line.name, "reason": reason}
    if reference:
        data["reference"] = reference
    outcome = Outcome(data, notify_citizen=["transferred"])

    def apply(t: Ticket):
        t.transfer(line=line, reason=reason, reference=reference, at=now)
        if t.channel == Channel.PHONE:
            effects.redirect_call(t, line)
            outcome.data["call_redirect"] = True

    return perform(ticket, "transfer", by=by, apply=apply, outcome=outcome)


@performs("dispatch")
def dispatch_ticket(
    ticket: Ticket, *, department: Department, assisting: Iterable[Department] = (), by, rule=None, category: Category | None = None, model: dict | None = None
) -> Ticket:
    """派单 to a lead department (主办) with optional assisting ones (协办).

    ``category`` files the ticket (the dispatcher confirms or changes the proposal; a
    change is recorded as a correction the classifier learns from). ``model`` names the
    classifier version when the system dispatches on its confidence."""
    if not department.active:
        raise InvalidInput(_("该单位已停用"), details={"department": [_("该单位已停用")]})
    assisting = [d for d in assisting if d.pk != department.pk]
    now = timezone.now()

    def apply(t: Ticket):
        due = deadlines.for_dispatch(t, at=now)
        if category is not None:
            if t.proposed_category_id and category.pk != t.proposed_category_id and actor.role != Role.SYSTEM:
                CategoryCorrection.objects.create(
                    ticket=t, proposed_id=t.proposed_category_id, chosen=category, model_version=t.proposal_version, by=actor.user,
                    topic_changed=category.ancestor_ids()[0] != t.proposed_category.ancestor_ids()[0],
                )  # fmt: skip
            t.category = category
        t.dispatch(department=department, at=now, accept_due=due.accept_due, handle_due=due.handle_due, return_until=due.return_until, warn_at=due.accept_warn)
        t.save()
        t.assisting_departments.set(assisting)
        data["catalogue_rule"] = rule.pk if rule is not None else disputes.rule_behind(t, department)  # what a dispute of it counts against

    actor = as_actor(by)
    data = {"department": department.pk, "department_name": department.name, "assisting": [d.pk for d in assisting]}
    if rule is not None:
        data["rule"] = rule.pk
    if category is not None:
        data["category"] = category.pk
    if model is not None:
        data["model"] = model
    return perform(ticket, "dispatch", by=by, apply=apply, outcome=Outcome(data))


@performs("sub_dispatch")
def sub_dispatch_ticket(ticket: Ticket, *, unit: Department, by) -> Ticket:
    """二级派单 to a unit under the department that has the ticket."""
    now = timezone.now()

    def apply(t: Ticket):
        if unit.parent_id != t.department_id or not unit.active:
            raise InvalidInput(_("只能派给本单位的下级单位"), details={"unit": [_("不是本单位的下级单位")]})
        due = deadlines.for_dispatch(t, at=now)
        t.sub_dispatch(unit=unit, accept_due=due.accept_due, warn_at=due.accept_warn)

    return perform(ticket, "sub_dispatch", by=by, apply=apply, outcome=Outcome({"unit": unit.pk, "unit_name": unit.name}))


@performs("accept")
def accept_ticket(ticket: Ticket, *, by) -> Ticket:
    """签收."""
    now = timezone.now()
    outcome = Outcome()

    def apply(t: Ticket):
        outcome.data["on_time"] = t.accept_due is None or now <= t.accept_due
        t.accept(at=now, warn_at=None)
        t.warn_at = deadlines.handle_warn_point(t)

    return perform(ticket, "accept", by=by, apply=apply, outcome=outcome)


@performs("request_return")
def request_return(
    ticket: Ticket, *, reason: str, by, cited_rule: DispatchRule | None = None, suggested_department: Department | None = None
) -> Ticket:
    """退单申请 / 派单异议: the reason, and optionally the catalogue entry that makes the ticket another
    department's business and the department that should have it. The desk decides by ``decide_due``."""
    reason = _required(reason, "reason")
    if cited_rule is not None and not cited_rule.active:
        raise InvalidInput(_("引用的派单目录条目已停用"), details={"cited_rule": [_("已停用")]})
    if suggested_department is not None and not suggested_department.active:
        raise InvalidInput(_("该单位已停用"), details={"suggested_department": [_("该单位已停用")]})
    now = timezone.now()
    actor = as_actor(by)
    outcome = Outcome({"reason": reason})

    def apply(t: Ticket):
        if suggested_department is not None and suggested_department.pk == t.department_id:
            raise InvalidInput(_("建议承办单位不能是本单位"), details={"suggested_department": [_("不能是本单位")]})
        t.request_return(reason=reason)
        dispute = disputes.file(t, by=actor.user, reason=reason, cited_rule=cited_rule, suggested_department=suggested_department, at=now)
        outcome.data["decide_due"] = dispute.decide_due.isoformat()
        if cited_rule is not None:
            outcome.data.update(cited_rule=cited_rule.pk, cited_rule_name=cited_rule.name)
        if suggested_department is not None:
            outcome.data.update(suggested_department=suggested_department.pk, suggested_department_name=suggested_department.name)

    return perform(ticket, "request_return", by=by, apply=apply, outcome=outcome)


def _decided(t: Ticket, outcome: Outcome, decision: str, actor: Actor, *, reason: str, at, redispatched_to: Department | None = None) -> None:
    dispute = disputes.decide(t, outcome=decision, by=actor.user, reason=reason, redispatched_to=redispatched_to, at=at)
    if dispute is not None:
        outcome.data["on_time"] = dispute.on_time


@performs("approve_return")
def approve_return(ticket: Ticket, *, by, department: Department | None = None, assisting: Iterable[Department] = (), reason: str = "") -> Ticket:
    """退单同意 (异议成立); with ``department`` the ticket is re-dispatched (改派) in the same transaction."""
    reason = (reason or "").strip()[:2000]
    if department is not None and not department.active:
        raise InvalidInput(_("该单位已停用"), details={"department": [_("该单位已停用")]})
    now = timezone.now()
    actor = as_actor(by)
    outcome = Outcome({"reason": reason} if reason else {})

    def apply(t: Ticket):
        if department is not None and department.pk == t.department_id:
            raise InvalidInput(_("异议成立时不能改派回提出异议的单位"), details={"department": [_("不能是提出异议的单位")]})
        _decided(t, outcome, DispatchDispute.Outcome.UPHELD, actor, reason=reason, at=now, redispatched_to=department)
        if department is not None:
            outcome.data.update(redispatched_to=department.pk, redispatched_to_name=department.name)
        t.approve_return()

    with transaction.atomic():
        returned = perform(ticket, "approve_return", by=by, apply=apply, outcome=outcome)
        if department is None:
            return returned
        return dispatch_ticket(returned, department=department, assisting=assisting, by=by)


@performs("reject_return")
def reject_return(ticket: Ticket, *, reason: str, by) -> Ticket:
    """退单驳回 (异议不成立): back to the department, in the state it asked from."""
    reason = _required(reason, "reason")
    now = timezone.now()
    actor = as_actor(by)
    outcome = Outcome({"reason": reason})

    def apply(t: Ticket):
        _decided(t, outcome, DispatchDispute.Outcome.REJECTED, actor, reason=reason, at=now)
        t.reject_return()
        # The deadline of the state it goes back to runs again; its cards stay as they were.
        if t.state == State.DISPATCHED:
            t.due_at, t.warn_at = t.accept_due, deadlines.accept_warn_point(t)
        else:
            t.due_at, t.warn_at = t.handle_due, deadlines.handle_warn_point(t)

    return perform(ticket, "reject_return", by=by, apply=apply, outcome=outcome)


@performs("request_extension")
def request_extension(ticket: Ticket, *, days: int, reason: str, by) -> Ticket:
    """延期申请: up to 10 working days; the ticket keeps being handled meanwhile."""
    reason = _required(reason, "reason")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= deadlines.MAX_EXTENSION_DAYS:
        raise InvalidInput(_("延期天数须为 1 到 %(n)d 个工作日") % {"n": deadlines.MAX_EXTENSION_DAYS}, details={"days": [_("超出范围")]})
    return perform(
        ticket, "request_extension", by=by, apply=lambda t: t.request_extension(days=days, reason=reason), outcome=Outcome({"days": days, "reason": reason})
    )


@performs("approve_extension")
def approve_extension(ticket: Ticket, *, by) -> Ticket:
    outcome = Outcome()

    def apply(t: Ticket):
        new_due = deadlines.extended(t.handle_due or timezone.now(), t.extension_days or 1)
        outcome.data.update(days=t.extension_days, previous_due=t.handle_due.isoformat() if t.handle_due else None, handle_due=new_due.isoformat())
        t.approve_extension(handle_due=new_due, warn_at=None)
        t.warn_at = deadlines.handle_warn_point(t)

    return perform(ticket, "approve_extension", by=by, apply=apply, outcome=outcome)


@performs("reject_extension")
def reject_extension(ticket: Ticket, *, by, reason: str = "") -> Ticket:
    return perform(ticket, "reject_extension", by=by, apply=lambda t: t.reject_extension(), outcome=Outcome({"reason": reason.strip()}))


@performs("reply")
def reply_ticket(ticket: Ticket, *, founded: bool, solved: bool, text: str, basis: str = "", by) -> Ticket:
    """答复: the department's answer, reviewed by the dispatcher before the citizen sees it."""
    text = _required(text, "text")
    basis = (basis or "").strip()[:4000]
    for name, value in (("founded", founded), ("solved", solved)):
        if not isinstance(value, bool):
            raise InvalidInput(_("%(field)s 须为布尔值") % {"field": name}, details={name: [_("须为 true 或 false")]})
    now = timezone.now()
    outcome = Outcome({"founded": founded, "solved": solved})

    actor = as_actor(by)
    assessment = reviews.safe_assess(ticket, text, basis=basis, at=now)  # before the row lock: it reads, then ~10 ms of Python

    def apply(t: Ticket):
        outcome.data["on_time"] = t.handle_due is None or now <= t.handle_due
        outcome.data["settles"] = t.handle_settled_at is None  # counted by the KPIs once per handling round
        review = reviews.record(t, assessment, at=now, department=actor.department or t.department)
        if review is not None:
            outcome.data["review"] = reviews.summary(review)
        t.reply(founded=founded, solved=solved, text=text, basis=basis, at=now)

    return perform(ticket, "reply", by=by, apply=apply, outcome=outcome)


@performs("approve_reply")
def approve_reply(ticket: Ticket, *, by) -> Ticket:
    """审核通过: the citizen gets the reply and the satisfaction survey, and so does every caller merged into it."""
    with transaction.atomic():
        ticket = perform(ticket, "approve_reply", by=by, apply=_approving, outcome=Outcome(notify_citizen=["reply", "survey"]))
        share_reply(ticket)
    return ticket


def _approving(t: Ticket) -> None:
    t.approve_reply()
    reviews.decide(t, ReplyReview.Outcome.APPROVED)


def share_reply(main: Ticket) -> list[Ticket]:
    """并单: each ticket merged into ``main`` (directly or through another merged one) gets its approved reply,
    the survey and its own callback; the merged callers rate on their own."""
    shared = []
    pending = list(Ticket.objects.filter(merged_into=main, state=State.MERGED))
    while pending:
        duplicate = pending.pop()
        pending.extend(Ticket.objects.filter(merged_into=duplicate, state=State.MERGED))
        shared.append(
            perform(
                duplicate, "share_reply", by=Actor(role=Role.SYSTEM), apply=lambda t: t.share_reply(main=main),
                outcome=Outcome({"main": main.number}, notify_citizen=["reply", "survey"]),
            )
        )  # fmt: skip
    return shared


@performs("reject_reply")
def reject_reply(ticket: Ticket, *, reason: str, by) -> Ticket:
    reason = _required(reason, "reason")

    def apply(t: Ticket):
        t.reject_reply(warn_at=deadlines.handle_warn_point(t))
        reviews.decide(t, ReplyReview.Outcome.REJECTED)

    return perform(ticket, "reject_reply", by=by, apply=apply, outcome=Outcome({"reason": reason}))


@performs("callback")
def callback_ticket(ticket: Ticket, *, reached: bool, solved: bool | None, satisfaction: str, by, auto_close: bool = True) -> Ticket:
    """回访. A satisfied (or basically satisfied) answer closes the ticket."""
    if not isinstance(reached, bool):
        raise InvalidInput(_("reached 须为布尔值"), details={"reached": [_("须为 true 或 false")]})
    if solved is not None and not isinstance(solved, bool):
        raise InvalidInput(_("solved 须为布尔值"), details={"solved": [_("须为 true 或 false")]})
    satisfaction = satisfaction or ""
    if satisfaction and satisfaction not in Satisfaction.values:
        raise InvalidInput(_("满意度取值无效"), details={"satisfaction": [_("可选：%(v)s") % {"v": ", ".join(Satisfaction.values)}]})
    if reached and not satisfaction:
        raise InvalidInput(_("已联系上诉求人时须填写满意度"), details={"satisfaction": [_("不能为空")]})
    data = {"reached": reached, "solved": solved, "satisfaction": satisfaction}
    ticket = perform(ticket, "callback", by=by, apply=lambda t: t.callback(reached=reached, solved=solved, satisfaction=satisfaction), outcome=Outcome(data))
    if auto_close and satisfaction in {Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED}:
        ticket = close_ticket(ticket, by=Actor(role=Role.SYSTEM))
    return ticket


def citizen_rating(ticket: Ticket, *, satisfaction: str, solved: bool | None = None, reason: str = "", by) -> Ticket:
    """评价 by the citizen themselves (tracking page, SMS): their callback, and when not satisfied the
    重办 at once, as one step: both happen or neither (a rated ticket is never left un-reopened)."""
    with transaction.atomic():
        ticket = callback_ticket(ticket, reached=True, solved=solved, satisfaction=satisfaction, by=by)
        if satisfaction == Satisfaction.UNSATISFIED:
            ticket = reopen_ticket(ticket, reason=(reason or "").strip() or _("市民评价不满意"), by=by)
    return ticket


@performs("reopen")
def reopen_ticket(ticket: Ticket, *, reason: str, by) -> Ticket:
    """不满意重办: back to the department; unsatisfied twice puts it under supervision."""
    reason = _required(reason, "reason")
    now = timezone.now()
    outcome = Outcome({"reason": reason})

    def apply(t: Ticket):
        due = deadlines.fresh_handle(t, at=now)
        t.reopen(handle_due=due, warn_at=None)
        t.warn_at = deadlines.handle_warn_point(t)
        outcome.data.update(unsatisfied_count=t.unsatisfied_count, supervised=t.supervised)

    return perform(ticket, "reopen", by=by, apply=apply, outcome=outcome)


@performs("close")
def close_ticket(ticket: Ticket, *, by) -> Ticket:
    now = timezone.now()
    return perform(ticket, "close", by=by, apply=lambda t: t.close(at=now))


@performs("urge")
def urge_ticket(ticket: Ticket, *, note: str = "", by) -> Ticket:
    """催办."""
    return perform(ticket, "urge", by=by, apply=lambda t: t.urge(), outcome=Outcome({"note": (note or "").strip()[:2000]}))


@performs("supervise")
def supervise_ticket(ticket: Ticket, *, note: str = "", by) -> Ticket:
    """督办."""
    return perform(ticket, "supervise", by=by, apply=lambda t: t.supervise(), outcome=Outcome({"note": (note or "").strip()[:2000]}))


@performs("merge")
def merge_ticket(ticket: Ticket, *, into: Ticket, by) -> Ticket:
    """并单: ``ticket`` is a duplicate of ``into``."""
    if into.pk == ticket.pk:
        raise InvalidInput(_("不能与自身并单"), details={"into": [_("不能是同一工单")]})
    if into.state in {State.MERGED, State.DECLINED, State.WITHDRAWN, State.TRANSFERRED}:
        raise TransitionConflict(_("目标工单已结束，不能并入"), code="invalid_target", details={"into": [into.number]})
    now = timezone.now()
    with transaction.atomic():
        merged = perform(ticket, "merge", by=by, apply=lambda t: t.merge(into=into, at=now), outcome=Outcome({"into": into.number}))
        main = into
        while main.merged_into_id is not None:
            main = main.merged_into
        if main.reply_text and main.state in {State.REPLY_APPROVED, State.RATED, State.CLOSED}:
            share_reply(main)  # merged after the answer: this caller gets it now
            merged.refresh_from_db()
    return merged


@performs("withdraw")
def withdraw_ticket(ticket: Ticket, *, by, reason: str = "") -> Ticket:
    """撤单, only before the reply."""
    now = timezone.now()

    def apply(t: Ticket):
        if t.state == State.RETURN_REQUESTED:
            disputes.void(t, at=now)
        t.withdraw(at=now)

    return perform(ticket, "withdraw", by=by, apply=apply, outcome=Outcome({"reason": (reason or "").strip()[:2000]}))


# --- steps that are events, not transitions -----------------------------------
def may_identify(ticket: Ticket, by) -> bool:
    """Whether ``by`` may see or hear what identifies the citizen (name, phone, voice): a
    confidential ticket's citizen is for the hotline, and for department staff allowed to reveal contacts."""
    actor = as_actor(by)
    return not (ticket.confidential and actor.role == Role.DEPARTMENT and not (actor.user and actor.user.can_reveal_contact))


def _identifying(ticket: Ticket, *, kind: EventKind, data: dict, by) -> TicketEvent:
    """A signed-in user saw or heard what identifies the citizen: allowed by ``may_identify``, always logged."""
    actor = as_actor(by)
    if actor.user is None:
        raise NotAllowed(_("需要登录"))
    if not may_identify(ticket, actor):
        raise NotAllowed(_("诉求人要求保密，无权查看"), code="confidential")
    with transaction.atomic():
        return record_event(ticket, kind=kind, actor=actor, from_state=ticket.state, data=data, department=ticket.department)


def record_transfer_reference(ticket: Ticket, *, reference: str, by) -> TicketEvent:
    """对方编号: the reference the other line gave the transferred matter (接警号, 警情号), known after the
    transfer; a correction replaces it, the timeline keeps both. Hotline roles, transferred tickets only."""
    actor = as_actor(by)
    if actor.role not in HOTLINE_ROLES:
        raise NotAllowed(_("只有热线工作人员可以登记对方编号"), code="forbidden_role")
    reference = _reference(reference, required=True)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update(of=("self",)).select_related("transferred_to").get(pk=ticket.pk)
        if locked.state != State.TRANSFERRED:
            raise TransitionConflict(
                _("工单当前状态为「%(state)s」，只有已移交的工单可以登记对方编号") % {"state": locked.get_state_display()},
                code="invalid_state", details={"state": locked.state},
            )  # fmt: skip
        data = {"reference": reference, "line": locked.transferred_to.code, "line_name": locked.transferred_to.name}
        if locked.transfer_reference:
            data["previous_reference"] = locked.transfer_reference
        Ticket.objects.filter(pk=locked.pk).update(transfer_reference=reference, updated_at=timezone.now())
        event = record_event(locked, kind=EventKind.TRANSFER_REFERENCE, actor=actor, from_state=locked.state, data=data, department=locked.department)
    ticket.transfer_reference = reference
    return event


def reveal_contact(ticket: Ticket, *, reason: str, by) -> TicketEvent:
    """查看联系方式: a department user sees the citizen's name and phone; always logged."""
    reason = _required(reason, "reason", max_length=500)
    return _identifying(ticket, kind=EventKind.CONTACT_REVEALED, data={"reason": reason}, by=by)


def add_note(ticket: Ticket, *, text: str, by, kind: EventKind = EventKind.NOTE) -> TicketEvent:
    """An internal note on the timeline (never public)."""
    actor = as_actor(by)
    text = _required(text, "text")
    with transaction.atomic():
        return record_event(ticket, kind=kind, actor=actor, from_state=ticket.state, data={"text": text}, department=ticket.department)


def exclude_from_kpis(ticket: Ticket, *, reason: str, by) -> Ticket:
    """不纳入考核, with a reason; only supervisors decide it."""
    actor = as_actor(by)
    if actor.role != Role.SUPERVISOR:
        raise NotAllowed(_("只有督办人员可以设置不纳入考核"))
    reason = _required(reason, "reason", max_length=200)
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(kpi_excluded=True, kpi_exclusion_reason=reason)
        record_event(ticket, kind=EventKind.KPI_EXCLUDED, actor=actor, from_state=ticket.state, data={"reason": reason}, department=ticket.department)
    ticket.refresh_from_db()
    return ticket


def exclude_from_assessment(ticket: Ticket, *, subject: str, reason: str, event_id: int | None = None, by) -> KpiExclusion:
    """不纳入考核 of one rating or red card (the latest, or ``event_id``), with a reason; only supervisors
    decide it. One with a pending appeal is decided through the appeal."""
    actor = as_actor(by)
    if actor.role != Role.SUPERVISOR:
        raise NotAllowed(_("只有督办人员可以设置不纳入考核"))
    subject = ratings.subject_of(subject)
    reason = _required(reason, "reason", max_length=500)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        event = ratings.target(locked, subject, event_id=event_id, appealable=False)
        if KpiExclusion.objects.filter(event=event).exists():
            raise TransitionConflict(_("该事项已不纳入考核"), code="already_excluded", details={"event": event.pk})
        if KpiAppeal.objects.filter(event=event, outcome=KpiAppeal.Outcome.PENDING).exists():
            raise TransitionConflict(_("该事项有待复核的申诉，请在复核申诉中裁定"), code="appeal_pending", details={"event": event.pk})
        exclusion = KpiExclusion.objects.create(event=event, ticket=locked, subject=subject, reason=reason, decided_by=actor.user)
        data = {"subject": subject, "event": event.pk, "reason": reason, "what": ratings.describe(event)}
        step = record_event(locked, kind=ratings.EXCLUDED_KIND[subject], actor=actor, from_state=locked.state, data=data, department=event.department)
        effects.push(locked, step)
    return exclusion


def file_appeal(ticket: Ticket, *, subject: str, reason: str, event_id: int | None = None, by) -> KpiAppeal:
    """复核申诉: the department that was rated unsatisfied or red-carded asks a supervisor to review it,
    within ``deadlines.APPEAL_WINDOW`` of the rating or card; one appeal per rating or card."""
    actor = as_actor(by)
    if actor.role != Role.DEPARTMENT or actor.department is None:
        raise NotAllowed(_("只有承办单位可以申请复核"), code="forbidden_role")
    subject = ratings.subject_of(subject)
    reason = _required(reason, "reason", max_length=2000)
    now = timezone.now()
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        event = ratings.target(locked, subject, event_id=event_id, appealable=True)
        if event.department_id != actor.department.pk:
            raise NotAllowed(_("只能对本单位的评价或红牌申请复核"), code="forbidden_department")
        if KpiAppeal.objects.filter(event=event).exists():
            raise TransitionConflict(_("该事项已申请过复核"), code="already_appealed", details={"event": event.pk})
        if KpiExclusion.objects.filter(event=event).exists():
            raise TransitionConflict(_("该事项已不纳入考核"), code="already_excluded", details={"event": event.pk})
        until = deadlines.appeal_until(event.created_at)
        if now > until:
            raise TransitionConflict(
                _("已超过申诉期限（%(n)s个工作日）") % {"n": deadlines.APPEAL_WINDOW.amount}, code="appeal_window_closed",
                details={"event": event.pk, "until": until.isoformat()},
            )  # fmt: skip
        appeal = KpiAppeal.objects.create(
            ticket=locked, event=event, subject=subject, department=actor.department, filed_by=actor.user, filed_at=now, reason=reason,
            decide_due=deadlines.appeal_decide_due(now),
        )  # fmt: skip
        data = {"appeal": appeal.pk, "subject": subject, "event": event.pk, "reason": reason, "what": ratings.describe(event), "decide_due": appeal.decide_due.isoformat()}
        step = record_event(locked, kind=EventKind.APPEAL_FILED, actor=actor, from_state=locked.state, data=data, department=actor.department)
        effects.push(locked, step)
    return appeal


def decide_appeal(appeal: KpiAppeal, *, upheld: bool, reason: str, by) -> KpiAppeal:
    """A supervisor's 复核 of an appeal: upheld leaves the rating or red card out of the KPIs (a
    ``KpiExclusion`` with this reason), rejected keeps it; the department sees the decision."""
    actor = as_actor(by)
    if actor.role != Role.SUPERVISOR:
        raise NotAllowed(_("只有督办人员可以复核申诉"), code="forbidden_role")
    if not isinstance(upheld, bool):
        raise InvalidInput(_("upheld 须为布尔值"), details={"upheld": [_("须为 true 或 false")]})
    reason = _required(reason, "reason", max_length=500)
    now = timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=appeal.ticket_id)
        appeal = KpiAppeal.objects.select_for_update(of=("self",)).select_related("event", "department").get(pk=appeal.pk)
        if appeal.outcome != KpiAppeal.Outcome.PENDING:
            raise TransitionConflict(_("该申诉已复核"), code="already_decided", details={"appeal": appeal.pk, "outcome": appeal.outcome})
        appeal.outcome = KpiAppeal.Outcome.UPHELD if upheld else KpiAppeal.Outcome.REJECTED
        appeal.decided_at, appeal.decided_by, appeal.decision_reason = now, actor.user, reason
        appeal.save(update_fields=["outcome", "decided_at", "decided_by", "decision_reason"])
        if upheld:
            KpiExclusion.objects.create(event=appeal.event, ticket=ticket, subject=appeal.subject, reason=reason, decided_by=actor.user, appeal=appeal)
        data = {"appeal": appeal.pk, "subject": appeal.subject, "event": appeal.event_id, "reason": reason, "on_time": appeal.on_time, "what": ratings.describe(appeal.event)}
        step = record_event(ticket, kind=ratings.DECIDED_KIND[upheld], actor=actor, from_state=ticket.state, data=data, department=appeal.department)
        effects.push(ticket, step)
    return appeal


def record_listened(ticket: Ticket, *, recording: str, by) -> TicketEvent:
    """收听录音: a staff member played the citizen's recorded voice (it identifies them like their phone); always logged."""
    recording = _required(recording, "recording", max_length=64)
    return _identifying(ticket, kind=EventKind.RECORDING_PLAYED, data={"recording": recording}, by=by)
