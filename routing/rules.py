"""Dispatch rules (派单目录): which department a new ticket should go to, and why."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from routing.models import Department, DispatchRule, Ticket


@dataclass(frozen=True)
class Proposal:
    department: Department
    rule: DispatchRule

    @property
    def automatic(self) -> bool:
        return self.rule.automatic


def _specificity(rule: DispatchRule) -> tuple[int, int, int]:
    return (
        rule.category.level if rule.category_id else 0,
        rule.area.level if rule.area_id else 0,
        1 if rule.keywords.strip() else 0,
    )


def matching_rules(ticket: Ticket) -> list[DispatchRule]:
    """Active rules whose category and area subtrees contain the ticket and whose keywords (if any) occur in it,
    best first: highest priority, then the most specific."""
    category_ids = ticket.category.ancestor_ids() if ticket.category_id else []
    area_ids = ticket.area.ancestor_ids() if ticket.area_id else []
    candidates = (
        DispatchRule.objects.filter(active=True, department__active=True)
        .filter(Q(category__isnull=True) | Q(category_id__in=category_ids))
        .filter(Q(area__isnull=True) | Q(area_id__in=area_ids))
        .select_related("department", "category", "area")
    )
    text = f"{ticket.title}\n{ticket.description}\n{ticket.address}"
    matched = [rule for rule in candidates if not rule.keyword_list() or any(word in text for word in rule.keyword_list())]
    # A rule with neither category, area nor keywords would match everything: only as a last resort.
    return sorted(matched, key=lambda r: (r.priority, *_specificity(r)), reverse=True)


def propose(ticket: Ticket) -> Proposal | None:
    """The department the catalogue proposes for ``ticket``, with the rule that matched."""
    rules = matching_rules(ticket)
    if not rules:
        return None
    return Proposal(department=rules[0].department, rule=rules[0])
