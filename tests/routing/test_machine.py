"""Every transition from every situation, for every role: allowed, 403 or 409.

The expected table is written out here by hand from DOMAIN.md, not derived
from the machine, so a change in the machine that breaks the process fails.
"""

from __future__ import annotations

import pytest

from routing import actions
from routing.errors import NotAllowed, TransitionConflict
from routing.models import TicketEvent
from routing.roles import Role, citizen_actor

SITUATIONS = [
    "registered", "dispatched", "accepted", "accepted_extension", "return_requested", "replied", "reply_approved",
    "rated_unsatisfied", "rated_unreached", "closed", "closed_at_first_contact", "declined", "withdrawn", "merged",
    "transferred",
]  # fmt: skip

RUNNING = {"dispatched", "accepted", "accepted_extension", "return_requested"}
HOTLINE = {"agent", "dispatcher", "supervisor"}
DESK = {"dispatcher", "supervisor"}
DEPT = {"dept_own"}

# transition → (situations it may start from, roles of the cast that may call it there)
EXPECTED = {
    "resolve": ({"registered"}, HOTLINE),
    "decline": ({"registered"}, HOTLINE),
    "transfer": ({"registered"}, HOTLINE),
    "dispatch": ({"registered"}, DESK),
    "sub_dispatch": ({"dispatched", "accepted", "accepted_extension"}, DEPT),
    "accept": ({"dispatched"}, DEPT),
    "request_return": ({"dispatched", "accepted", "accepted_extension"}, DEPT),
    "approve_return": ({"return_requested"}, DESK),
    "reject_return": ({"return_requested"}, DESK),
    "request_extension": ({"accepted", "accepted_extension"}, DEPT),
    "approve_extension": ({"accepted_extension"}, DESK),
    "reject_extension": ({"accepted_extension"}, DESK),
    "reply": ({"accepted", "accepted_extension"}, DEPT),
    "approve_reply": ({"replied"}, DESK),
    "reject_reply": ({"replied"}, DESK),
    "callback": ({"reply_approved"}, HOTLINE),
    "reopen": ({"rated_unsatisfied"}, HOTLINE),
    "close": ({"rated_unreached", "rated_unsatisfied"}, HOTLINE),
    "urge": (RUNNING | {"replied"}, DESK),
    "supervise": (RUNNING | {"replied", "rated_unsatisfied", "rated_unreached"}, {"supervisor"}),
    "merge": ({"registered", "dispatched"}, DESK),
    "withdraw": ({"registered"} | RUNNING, {"agent"}),
}

# Role-level permission: which cast members' roles may call the transition at all.
ROLE_ALLOWED = {
    "resolve": HOTLINE, "decline": HOTLINE, "transfer": HOTLINE, "dispatch": DESK, "sub_dispatch": {"dept_own", "dept_other"},
    "accept": {"dept_own", "dept_other"}, "request_return": {"dept_own", "dept_other"}, "approve_return": DESK,
    "reject_return": DESK, "request_extension": {"dept_own", "dept_other"}, "approve_extension": DESK,
    "reject_extension": DESK, "reply": {"dept_own", "dept_other"}, "approve_reply": DESK, "reject_reply": DESK,
    "callback": HOTLINE, "reopen": HOTLINE, "close": HOTLINE, "urge": DESK, "supervise": {"supervisor"},
    "merge": DESK, "withdraw": {"agent"},
}  # fmt: skip

# Situations where the state allows the transition but a condition or a finer rule does not.
SPECIAL = {
    ("request_extension", "accepted_extension"): "conflict",  # one extension request at a time
    ("reopen", "rated_unreached"): "conflict",  # only an unsatisfied citizen reopens
    ("close", "rated_unsatisfied", "agent"): "forbidden",  # settling an unsatisfied ticket is the desk's call
}

ROLES = ["agent", "dispatcher", "supervisor", "dept_own", "dept_other"]


def _line(code: str):
    from routing import linkage
    from routing.models import EmergencyLine

    linkage.ensure_default_lines()
    return EmergencyLine.objects.get(code=code)


def _call(name, ticket, actor, *, cast, departments, new_ticket):
    args = {
        "resolve": lambda: actions.resolve_ticket(ticket, answer="答复", by=actor),
        "decline": lambda: actions.decline_ticket(ticket, reason="不属于受理范围", by=actor),
        "transfer": lambda: actions.transfer_ticket(ticket, line=_line("110"), reason="属治安警情", by=actor),
        "dispatch": lambda: actions.dispatch_ticket(ticket, department=departments["city_mgmt"], by=actor),
        "sub_dispatch": lambda: actions.sub_dispatch_ticket(ticket, unit=departments["unit"], by=actor),
        "accept": lambda: actions.accept_ticket(ticket, by=actor),
        "request_return": lambda: actions.request_return(ticket, reason="非本单位职责", by=actor),
        "approve_return": lambda: actions.approve_return(ticket, by=actor),
        "reject_return": lambda: actions.reject_return(ticket, reason="属于本单位职责", by=actor),
        "request_extension": lambda: actions.request_extension(ticket, days=2, reason="需要协调", by=actor),
        "approve_extension": lambda: actions.approve_extension(ticket, by=actor),
        "reject_extension": lambda: actions.reject_extension(ticket, by=actor),
        "reply": lambda: actions.reply_ticket(ticket, founded=True, solved=True, text="已处理", by=actor),
        "approve_reply": lambda: actions.approve_reply(ticket, by=actor),
        "reject_reply": lambda: actions.reject_reply(ticket, reason="答复不完整", by=actor),
        "callback": lambda: actions.callback_ticket(ticket, reached=True, solved=True, satisfaction="satisfied", by=actor, auto_close=False),
        "reopen": lambda: actions.reopen_ticket(ticket, reason="市民不满意", by=actor),
        "close": lambda: actions.close_ticket(ticket, by=actor),
        "urge": lambda: actions.urge_ticket(ticket, note="请尽快办理", by=actor),
        "supervise": lambda: actions.supervise_ticket(ticket, note="列入督办", by=actor),
        "merge": lambda: actions.merge_ticket(ticket, into=new_ticket(), by=actor),
        "withdraw": lambda: actions.withdraw_ticket(ticket, by=actor),
    }
    return args[name]()


def expected_outcome(name: str, situation: str, role: str) -> str:
    if role not in ROLE_ALLOWED[name]:
        return "forbidden"
    sources, roles = EXPECTED[name]
    if situation not in sources:
        return "conflict"
    if role not in roles:
        return "forbidden"  # e.g. staff of another department: refused before any condition is looked at
    return SPECIAL.get((name, situation, role)) or SPECIAL.get((name, situation)) or "ok"


@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_transition_for_every_role(situation, ticket_in, cast, departments, new_ticket):
    # given one ticket in this situation per attempt, so each attempt starts from it
    mismatches = []
    for name in EXPECTED:
        for role in ROLES:
            ticket = ticket_in(situation)
            events_before = TicketEvent.objects.filter(ticket=ticket).count()
            # when
            try:
                _call(name, ticket, cast[role], cast=cast, departments=departments, new_ticket=new_ticket)
                outcome = "ok"
            except NotAllowed:
                outcome = "forbidden"
            except TransitionConflict:
                outcome = "conflict"
            # then
            expected = expected_outcome(name, situation, role)
            if outcome != expected:
                mismatches.append(f"{name} by {role} from {situation}: got {outcome}, expected {expected}")
            written = TicketEvent.objects.filter(ticket=ticket).count() - events_before
            if outcome == "ok" and written < 1:
                mismatches.append(f"{name} by {role} from {situation}: no event written")
            if outcome != "ok" and written:
                mismatches.append(f"{name} by {role} from {situation}: refused but wrote {written} events")
    assert not mismatches, "\n".join(mismatches)


def test_each_transition_writes_exactly_one_event(ticket_in, cast):
    # given
    ticket = ticket_in("dispatched")
    before = TicketEvent.objects.filter(ticket=ticket).count()
    # when
    ticket = actions.accept_ticket(ticket, by=cast["dept_own"])
    # then
    events = list(TicketEvent.objects.filter(ticket=ticket).order_by("id"))
    assert len(events) == before + 1
    last = events[-1]
    assert (last.kind, last.from_state, last.to_state, last.actor, last.actor_role) == ("ticket.accepted", "dispatched", "accepted", cast["dept_own"], Role.DEPARTMENT)
    assert last.data["on_time"] is True


def test_citizen_may_withdraw_before_the_reply_only(ticket_in):
    ticket = ticket_in("accepted")
    withdrawn = actions.withdraw_ticket(ticket, by=citizen_actor(ticket.citizen))
    assert withdrawn.state == "withdrawn"
    replied = ticket_in("replied")
    with pytest.raises(TransitionConflict):
        actions.withdraw_ticket(replied, by=citizen_actor(replied.citizen))


def test_state_field_is_protected(ticket_in):
    ticket = ticket_in("registered")
    with pytest.raises(AttributeError):
        ticket.state = "closed"


def test_second_extension_needs_a_supervisor(ticket_in, cast):
    # given a ticket whose first extension the dispatcher approved
    ticket = ticket_in("accepted_extension")
    ticket = actions.approve_extension(ticket, by=cast["dispatcher"])
    assert ticket.extension_count == 1 and not ticket.extension_pending
    ticket = actions.request_extension(ticket, days=5, reason="仍需协调", by=cast["dept_own"])
    # when / then
    with pytest.raises(NotAllowed):
        actions.approve_extension(ticket, by=cast["dispatcher"])
    ticket = actions.approve_extension(ticket, by=cast["supervisor"])
    assert ticket.extension_count == 2


def test_sub_dispatch_hands_the_ticket_to_the_unit(ticket_in, cast, departments):
    # given
    ticket = ticket_in("accepted")
    # when
    ticket = actions.sub_dispatch_ticket(ticket, unit=departments["unit"], by=cast["dept_own"])
    # then the unit accepts it, and the bureau still sees it
    assert (ticket.state, ticket.department, ticket.parent_department) == ("dispatched", departments["unit"], departments["city_mgmt"])
    with pytest.raises(NotAllowed):
        actions.accept_ticket(ticket, by=cast["dept_own"])
    ticket = actions.accept_ticket(ticket, by=cast["unit_staff"])
    assert ticket.state == "accepted"
    from routing.selectors import visible_tickets

    assert visible_tickets(cast["dept_own"]).filter(pk=ticket.pk).exists()
    assert not visible_tickets(cast["dept_other"]).filter(pk=ticket.pk).exists()


def test_reject_return_goes_back_to_the_state_it_came_from(ticket_in, cast):
    ticket = ticket_in("accepted")
    ticket = actions.request_return(ticket, reason="非本单位职责", by=cast["dept_own"])
    ticket = actions.reject_return(ticket, reason="属于本单位", by=cast["dispatcher"])
    assert ticket.state == "accepted"
    assert ticket.due_at == ticket.handle_due


def test_approved_return_goes_back_to_dispatch_and_can_be_redispatched(ticket_in, cast, departments):
    ticket = ticket_in("return_requested")
    ticket = actions.approve_return(ticket, by=cast["dispatcher"])
    assert (ticket.state, ticket.department, ticket.due_at) == ("registered", None, None)
    ticket = actions.dispatch_ticket(ticket, department=departments["housing"], by=cast["dispatcher"])
    assert ticket.department == departments["housing"]


@pytest.mark.django_db
def test_a_citizens_own_rating_is_one_step_with_its_reopen(ticket_in):
    """The tracking page and the SMS survey rate through ``actions.citizen_rating`` (issue 17 item 3):
    not satisfied reopens in the same transaction; satisfied closes."""
    from routing.states import Satisfaction, State

    unhappy = ticket_in("reply_approved")
    by = citizen_actor(unhappy.citizen)
    unhappy = actions.citizen_rating(unhappy, satisfaction=Satisfaction.UNSATISFIED, reason="路灯还是不亮", by=by)
    assert unhappy.state == State.ACCEPTED and unhappy.unsatisfied_count == 1
    kinds = list(TicketEvent.objects.filter(ticket=unhappy).order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == ["ticket.callback", "ticket.reopened"]

    happy = ticket_in("reply_approved")
    happy = actions.citizen_rating(happy, satisfaction=Satisfaction.SATISFIED, by=citizen_actor(happy.citizen))
    assert happy.state == State.CLOSED
