"""KPIs from the timeline: tickets a supervisor excluded are left out of every figure and grouping,
and the dashboard's several groupings share one set of totals."""

from __future__ import annotations

import pytest

from routing import actions, kpis
from routing.errors import NotAllowed


@pytest.mark.django_db
def test_an_excluded_ticket_leaves_every_kpi(ticket_in, cast):
    for situation in ("closed_at_first_contact", "registered", "closed"):
        ticket_in(situation)
    excluded = ticket_in("closed_at_first_contact")
    before = kpis.compute(by="department")
    assert before["totals"]["first_contact"] == {"value": 0.5, "numerator": 2, "denominator": 4}

    with pytest.raises(NotAllowed):
        actions.exclude_from_kpis(excluded, reason="市民恶意重复来电", by=cast["dispatcher"])
    actions.exclude_from_kpis(excluded, reason="市民恶意重复来电", by=cast["supervisor"])

    after = kpis.compute_each(groupings=["", "department", "category", "area", "day"])
    for by, report in after.items():
        assert report["totals"]["first_contact"] == {"value": 0.3333, "numerator": 1, "denominator": 3}, by
        assert report["totals"]["satisfaction"] == before["totals"]["satisfaction"], by
        registered = sum(g["metrics"]["first_contact"]["denominator"] for g in report["groups"])
        assert by == "" or registered == 3, (by, report["groups"])
    assert after["department"] == kpis.compute(by="department")
