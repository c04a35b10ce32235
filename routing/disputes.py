"""派单异议: a department disputes a dispatch (退单申请), the dispatch desk decides within a deadline.

``routing.actions`` calls ``file`` and ``decide`` inside the transitions
request_return / approve_return / reject_return (and ``void`` when the citizen
withdraws), so every 退单 leaves one ``DispatchDispute``. This module also
reports the disputes of a period: per department (the dispute rate is
disputes ÷ tickets dispatched to it), per catalogue rule (the entry behind
the disputed dispatch), and the catalogue changes that upheld disputes
propose (tickets a rule sent to A that the desk re-dispatched to B).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from routing import deadlines
from routing.models import Department, DispatchDispute, DispatchRule, Ticket, TicketEvent, User
from routing.states import EventKind

Outcome = DispatchDispute.Outcome


def rule_behind(ticket: Ticket, department: Department) -> int | None:
    """The catalogue entry that sends ``ticket`` to ``department``: the proposal's rule when the ticket
    goes where the catalogue proposed, else none (the dispatcher's own judgement)."""
    if ticket.proposed_rule_id and ticket.proposed_department_id == department.pk:
        return ticket.proposed_rule_id
    return None


def _dispatched_rule(ticket: Ticket) -> int | None:
    last = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.DISPATCHED).order_by("-created_at", "-id").values_list("data", flat=True).first()
    return (last or {}).get("catalogue_rule")


def file(ticket: Ticket, *, by: User | None, reason: str, cited_rule: DispatchRule | None, suggested_department: Department | None, at: dt.datetime) -> DispatchDispute:
    """Record the dispute of the department that has ``ticket`` now (called by ``actions.request_return``)."""
    return DispatchDispute.objects.create(
        ticket=ticket, department_id=ticket.department_id, filed_by=by, filed_at=at, reason=reason,
        dispatched_rule_id=_dispatched_rule(ticket), cited_rule=cited_rule, suggested_department=suggested_department,
        decide_due=deadlines.dispute_decide_due(at),
    )  # fmt: skip


def pending(ticket: Ticket) -> DispatchDispute | None:
    return DispatchDispute.objects.filter(ticket=ticket, outcome=Outcome.PENDING).select_related("department", "cited_rule__department", "suggested_department").first()


def pending_for(ticket_ids) -> dict[int, DispatchDispute]:
    """The pending dispute of each ticket (the dispatcher's 退单审核 cards), in one query."""
    found = DispatchDispute.objects.filter(ticket_id__in=list(ticket_ids), outcome=Outcome.PENDING).select_related("cited_rule__department", "suggested_department")
    return {d.ticket_id: d for d in found}


def decide(ticket: Ticket, *, outcome: str, by: User | None, reason: str = "", redispatched_to: Department | None = None, at: dt.datetime) -> DispatchDispute | None:
    """Settle the ticket's pending dispute; a 退单 filed before disputes were recorded has none."""
    dispute = DispatchDispute.objects.select_for_update().filter(ticket=ticket, outcome=Outcome.PENDING).first()
    if dispute is None:
        return None
    dispute.outcome = outcome
    dispute.decided_at = at
    dispute.decided_by = by
    dispute.decision_reason = reason
    dispute.redispatched_to = redispatched_to
    dispute.save(update_fields=["outcome", "decided_at", "decided_by", "decision_reason", "redispatched_to"])
    return dispute


def void(ticket: Ticket, *, at: dt.datetime) -> None:
    """The ticket was withdrawn while its dispute waited: nothing is left to decide."""
    DispatchDispute.objects.filter(ticket=ticket, outcome=Outcome.PENDING).update(outcome=Outcome.VOID, decided_at=at)


# --- the report -----------------------------------------------------------------------------
def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


_TALLY = {
    "disputes": Count("id"),
    "upheld": Count("id", filter=Q(outcome=Outcome.UPHELD)),
    "rejected": Count("id", filter=Q(outcome=Outcome.REJECTED)),
    "pending": Count("id", filter=Q(outcome=Outcome.PENDING)),
}


def report(lower: dt.datetime, upper: dt.datetime, *, limit: int = 50) -> dict:
    """Disputes filed in [lower, upper): per department, per catalogue rule, and the proposals."""
    now = timezone.now()
    filed = DispatchDispute.objects.filter(filed_at__gte=lower, filed_at__lt=upper, ticket__kpi_excluded=False)
    dispatches = TicketEvent.objects.filter(kind=EventKind.DISPATCHED, created_at__gte=lower, created_at__lt=upper, ticket__kpi_excluded=False)
    late = Q(outcome=Outcome.PENDING, decide_due__lt=now) | Q(decided_at__isnull=False, decided_at__gt=F("decide_due"))

    received = dict(dispatches.values("department_id").annotate(n=Count("id")).order_by().values_list("department_id", "n"))
    per_department = {row["department_id"]: row for row in filed.values("department_id").annotate(**_TALLY, late=Count("id", filter=late)).order_by()}
    names = dict(Department.objects.filter(pk__in=set(received) | set(per_department)).values_list("pk", "name"))
    departments = []
    for pk in sorted(set(per_department) | {d for d in received if d}, key=lambda d: (-(per_department.get(d, {}).get("disputes", 0)), names.get(d, ""))):
        row = per_department.get(pk, {"disputes": 0, "upheld": 0, "rejected": 0, "pending": 0, "late": 0})
        decided = row["upheld"] + row["rejected"]
        departments.append({
            "department": pk, "name": names.get(pk, ""), "dispatched": received.get(pk, 0), "disputes": row["disputes"],
            "rate": _rate(row["disputes"], received.get(pk, 0)), "upheld": row["upheld"], "rejected": row["rejected"],
            "pending": row["pending"], "overdue": row["late"], "upheld_rate": _rate(row["upheld"], decided),
        })  # fmt: skip

    by_rule = dict(dispatches.exclude(data__catalogue_rule=None).values_list("data__catalogue_rule").annotate(n=Count("id")).order_by().values_list("data__catalogue_rule", "n"))
    per_rule = {row["dispatched_rule_id"]: row for row in filed.exclude(dispatched_rule=None).values("dispatched_rule_id").annotate(**_TALLY).order_by()}
    rule_rows = {r.pk: r for r in DispatchRule.objects.filter(pk__in=set(per_rule)).select_related("department")}
    rules = []
    for pk, row in sorted(per_rule.items(), key=lambda kv: -kv[1]["disputes"])[:limit]:
        rule = rule_rows.get(pk)
        if rule is None:
            continue
        rules.append({
            "rule": pk, "name": rule.name, "department": rule.department.name, "dispatched": by_rule.get(pk, 0),
            "disputes": row["disputes"], "rate": _rate(row["disputes"], by_rule.get(pk, 0)), "upheld": row["upheld"], "rejected": row["rejected"],
        })  # fmt: skip
    total = filed.aggregate(**_TALLY, overdue=Count("id", filter=late))
    return {
        "totals": {**total, "dispatched": sum(received.values()), "rate": _rate(total["disputes"], sum(received.values()))},
        "departments": departments,
        "rules": rules,
        "proposals": proposals(filed, limit=limit),
    }


def proposals(filed, *, limit: int = 50) -> list[dict]:
    """Upheld disputes grouped by (the rule behind the dispatch or the cited one, where the desk re-dispatched):
    each group proposes that the catalogue send such tickets to the department they ended with."""
    groups: dict[tuple[int | None, int], list[DispatchDispute]] = defaultdict(list)
    upheld = filed.filter(outcome=Outcome.UPHELD).exclude(redispatched_to=None).select_related(
        "ticket", "department", "dispatched_rule", "cited_rule", "redispatched_to", "ticket__category"
    )
    for dispute in upheld.order_by("filed_at"):
        groups[(dispute.dispatched_rule_id, dispute.redispatched_to_id)].append(dispute)
    result = []
    for (rule_id, to_id), members in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:limit]:
        first = members[0]
        rule = first.dispatched_rule
        cited = sorted({m.cited_rule.name for m in members if m.cited_rule_id})
        if rule is not None:
            text = _("规则「%(rule)s」把 %(n)d 件工单派给%(from)s，异议成立后改派%(to)s：建议修改该规则，或为这类诉求新增派给%(to)s的规则") % {
                "rule": rule.name, "n": len(members), "from": rule.department.name, "to": first.redispatched_to.name}  # fmt: skip
        else:
            text = _("%(n)d 件人工派给%(from)s的工单，异议成立后改派%(to)s：建议在派单目录中为这类诉求新增派给%(to)s的规则") % {
                "n": len(members), "from": first.department.name, "to": first.redispatched_to.name}  # fmt: skip
        categories = sorted({m.ticket.category.name for m in members if m.ticket.category_id})
        result.append({
            "rule": rule_id, "rule_name": rule.name if rule else "", "from_department": first.department.name,
            "to_department": first.redispatched_to.name, "to_department_code": first.redispatched_to.code, "upheld": len(members),
            "cited_rules": cited, "categories": categories, "tickets": [m.ticket.number for m in members[:20]], "text": text,
        })  # fmt: skip
    return result
