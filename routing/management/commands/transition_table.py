"""``manage.py transition_table``: who may do what in which state, as a Markdown table, from the machine itself."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import translation

from routing.models import Ticket
from routing.roles import Role
from routing.states import State
from routing.transitions import STEPS


def _state(value) -> str:
    if value is None:
        return "(unchanged)"
    allowed = getattr(value, "allowed_states", None)
    if allowed:
        return " / ".join(f"`{s}`" for s in allowed)
    return f"`{value}`"


def markdown_table() -> str:
    """One row per transition: from which states, to which, and which roles (department = the ticket's own)."""
    rows = ["| transition | from | to | who |", "|---|---|---|---|"]
    for name in STEPS:
        meta = getattr(Ticket, name)._django_fsm
        sources = sorted(meta.transitions, key=list(State.values).index)
        targets = {_state(t.target) for t in meta.transitions.values()}
        roles = set()
        for transition in meta.transitions.values():
            roles |= set(getattr(transition.permission, "roles", ()))
        who = ", ".join(Role(r).value + (" (own)" if r == Role.DEPARTMENT else "") for r in sorted(roles))
        conditions = {c.__name__ for t in meta.transitions.values() for c in (t.conditions or [])}
        if conditions:
            who += " — if " + ", ".join(sorted(conditions))
        notes = {getattr(t.permission, "note", "") for t in meta.transitions.values()} - {""}
        if notes:
            who += " (" + "; ".join(sorted(notes)) + ")"
        rows.append(f"| `{name}` | {', '.join(f'`{s}`' for s in sources)} | {', '.join(sorted(targets))} | {who} |")
    return "\n".join(rows)


class Command(BaseCommand):
    help = "Print the Markdown table of transitions, states and roles (kept in the README)."

    def handle(self, *args, **options):
        with translation.override("en"):
            self.stdout.write(markdown_table())
