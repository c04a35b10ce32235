"""Hot spots: categories and districts whose registrations rise fastest against the window before."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from frontend import hotspots
from routing.intake import IntakeRequest, register_ticket
from routing.models import Area, Category, Ticket


@pytest.fixture
def places(db):
    city = Area.objects.create(code="c", name="示范市", kind=Area.Kind.CITY)
    east = Area.objects.create(code="e", name="东城区", kind=Area.Kind.DISTRICT, parent=city)
    west = Area.objects.create(code="w", name="西城区", kind=Area.Kind.DISTRICT, parent=city)
    street = Area.objects.create(code="e1", name="东华街道", kind=Area.Kind.STREET, parent=east)
    build = Category.objects.create(code="01", name="城乡建设")
    lights = Category.objects.create(code="0101", name="路灯", parent=build)
    traffic = Category.objects.create(code="02", name="交通运输")
    return {"street": street, "west": west, "lights": lights, "traffic": traffic}


def _ticket(category, area, hours_ago: float, text: str = "路灯不亮") -> Ticket:
    ticket = register_ticket(IntakeRequest(channel="web", description=text, category=category, area=area)).ticket
    Ticket.objects.filter(pk=ticket.pk).update(registered_at=timezone.now() - dt.timedelta(hours=hours_ago))
    return ticket


def test_rising_counts_roots_and_districts_against_the_previous_window(places):
    # given: street lights (under 城乡建设, in a street of 东城区) rising, traffic falling
    for hours in (1, 2, 3):
        _ticket(places["lights"], places["street"], hours)
    _ticket(places["lights"], places["street"], 30)
    _ticket(places["traffic"], places["west"], 2)
    for hours in (26, 27):
        _ticket(places["traffic"], places["west"], hours)

    # when
    spots = hotspots.rising()

    # then: counted per top-level category and per district, only the rising ones, fastest first
    day = spots["24h"]
    assert [(s.label, s.current, s.previous, s.delta) for s in day["categories"]] == [("城乡建设", 3, 1, 2)]
    assert [(s.label, s.current, s.previous) for s in day["areas"]] == [("东城区", 3, 1)]
    assert day["categories"][0].growth_percent == 200
    week = spots["7d"]
    assert [(s.label, s.current, s.previous) for s in week["categories"]] == [("城乡建设", 4, 0), ("交通运输", 3, 0)]
    assert week["categories"][0].growth is None  # nothing before: a new hot spot
