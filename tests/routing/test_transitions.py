"""Each transition's metadata (``custom=`` in routing.machine) is whole, and what is derived from it fits.

The API, the action forms, the timeline and the tracking page read a
transition's event kind, label, input and public flag from its declaration;
these tests fail when a declaration misses a piece another room needs.
"""

from __future__ import annotations

import inspect

from routing import actions, transitions
from routing.api import serializers as s
from routing.api.views import TRANSITIONS
from routing.models import Ticket
from routing.states import EventKind
from routing.transitions import STEPS

from frontend import actionforms, timeline


def test_every_fsm_transition_of_the_ticket_has_its_metadata():
    # given: the transitions django-fsm knows on the model
    declared = {name for name in dir(Ticket) if hasattr(getattr(Ticket, name, None), "_django_fsm")}

    # then: each is a step, with an event kind of its own
    assert declared == set(STEPS)
    kinds = [step.kind for step in STEPS.values()]
    assert all(isinstance(kind, EventKind) for kind in kinds)
    assert len(set(kinds)) == len(kinds), "two transitions write the same event kind"


def test_every_step_a_person_takes_is_an_api_endpoint_with_its_action():
    for name, step in STEPS.items():
        if step.label is not None:
            assert step.input is not None, f"{name} has a button but no API body"
        if step.input is None:
            assert name not in TRANSITIONS and name not in actions.PERFORMERS
            continue
        # when: the API would call the action with the validated body as keywords
        input_class, perform = TRANSITIONS[name]
        accepted = inspect.signature(perform).parameters

        # then: the action takes every field of the body, and nothing else is required
        assert input_class is getattr(s, step.input)
        assert set(input_class().fields) <= set(accepted), f"{perform.__name__} does not take every field of {step.input}"
        required = {p for p, v in accepted.items() if v.default is inspect.Parameter.empty and p not in {"ticket", "by"}}
        assert required <= set(input_class().fields), f"{step.input} lacks {required - set(input_class().fields)} for {name}"


def test_the_form_of_each_step_posts_its_input():
    # given: a registered ticket and no reference lists (nothing is read)
    ticket = Ticket(title="t", description="d")
    for name, step in STEPS.items():
        if step.label is None:
            continue
        # when
        fields = actionforms.fields_for(name, ticket, None, departments=[], units={}, catalogue=[], lines=[])

        # then: the form's inputs are the body's fields, the required ones among them
        body = getattr(s, step.input)().fields
        assert {f.name for f in fields} <= set(body), name
        assert {f for f, field in body.items() if field.required} <= {f.name for f in fields}, name


def test_public_steps_and_the_words_for_them():
    for name, step in STEPS.items():
        assert (step.kind in transitions.PUBLIC_KINDS) == step.public, name
        if step.citizen_label is not None:
            assert step.public, f"{name} names itself to citizens but its event is not public"
    assert EventKind.REGISTERED in transitions.PUBLIC_KINDS
    assert set(timeline.KIND_LABELS) == set(EventKind.values), "every event kind has its timeline label"
