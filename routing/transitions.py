"""What the code knows about each transition besides its fields, read from its declaration.

Each ``@transition`` of ``routing.machine`` carries its metadata in django-fsm's
``custom=`` (the keys are the fields of ``Step``). Everything that used to spell
a transition again derives from ``STEPS``: the event an action writes, which
events citizens see, the API's endpoints and request bodies, the action
forms' buttons and the tracking page's words. Adding a transition is its
``@transition`` (with ``custom=``) and its named function in ``routing.actions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.machine import TicketMachine
from routing.states import EventKind


@dataclass(frozen=True)
class Step:
    """One transition's metadata (see ``routing.machine``'s docstring for each key)."""

    name: str
    kind: EventKind
    label: str | None = None  # lazy: translated when shown
    input: str | None = None
    public: bool = False
    citizen_label: str | None = None
    secondary: bool = False
    note: str = ""


def _declared() -> dict[str, Step]:
    steps = {}
    for name, method in vars(TicketMachine).items():  # in the order they are declared
        meta = getattr(method, "_django_fsm", None)
        if meta is None:
            continue
        declarations = {id(t.custom): t.custom for t in meta.transitions.values()}
        if len(declarations) != 1:
            raise TypeError(f"{name}: its sources declare different metadata; declare one custom= for all of them")
        steps[name] = Step(name=name, **next(iter(declarations.values())))
    return steps


STEPS: dict[str, Step] = _declared()

# Events on the citizen's tracking page: registration (an event of intake, not a transition) and the public steps.
PUBLIC_KINDS: frozenset[str] = frozenset({EventKind.REGISTERED, *(step.kind for step in STEPS.values() if step.public)})


def step(name: str) -> Step:
    """The metadata of transition ``name``; KeyError for a name that is not a transition."""
    return STEPS[name]


def on_api() -> dict[str, Step]:
    """The transitions a person takes through ``POST /api/v1/tickets/{number}/{name}/`` (those with an input)."""
    return {name: s for name, s in STEPS.items() if s.input is not None}


def citizen_labels() -> dict[str, str]:
    """Event kind → how the tracking page names the step, for the public transitions that name theirs."""
    return {s.kind: s.citizen_label for s in STEPS.values() if s.public and s.citizen_label}
