"""The working-day calendar: the State Council schedule (``chinese-calendar``)
plus local overrides stored as data (``CalendarOverride``)."""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

import chinese_calendar
from django.utils import timezone

from routing.models import CalendarOverride

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def _national_workday(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # A year the package does not know yet: weekdays work until the
        # schedule is published (add overrides for it meanwhile).
        log.warning("no State Council schedule for %s; counting weekdays", day.year)
        return day.weekday() < 5


class WorkingCalendar:
    """Answers "is this a working day?" with the local overrides of one load."""

    def __init__(self, overrides: dict[dt.date, bool] | None = None):
        if overrides is None:
            overrides = dict(CalendarOverride.objects.values_list("day", "is_workday"))
        self.overrides = overrides

    def is_workday(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return _national_workday(day)

    def nth_workday_after(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day strictly after ``day`` (n ≥ 1)."""
        found = 0
        current = day
        for _ in range(n * 7 + 60):  # bounded: no holiday block is that long
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                found += 1
                if found == n:
                    return current
        raise ValueError(f"no {n} working days found after {day}")

    def nth_workday_before(self, day: dt.date, n: int) -> dt.date:
        found = 0
        current = day
        for _ in range(n * 7 + 60):
            current -= dt.timedelta(days=1)
            if self.is_workday(current):
                found += 1
                if found == n:
                    return current
        raise ValueError(f"no {n} working days found before {day}")

    def add_working_days(self, start: dt.datetime, days: int, *, count_start_day: bool = False) -> dt.datetime:
        """The end (23:59:59 local time) of the ``days``-th working day after ``start``.

        By default the clock starts the day after registration (从受理次日起算);
        with ``count_start_day`` a working start day counts as the first day.
        """
        local = timezone.localtime(start)
        anchor = local.date()
        if count_start_day and self.is_workday(anchor):
            target = anchor if days == 1 else self.nth_workday_after(anchor, days - 1)
        else:
            target = self.nth_workday_after(anchor, days)
        return end_of_day(target)

    def working_day_before(self, due: dt.datetime, days: int = 1) -> dt.datetime:
        """The same clock time ``days`` working days before ``due`` (the yellow-card point)."""
        local = timezone.localtime(due)
        day = self.nth_workday_before(local.date(), days)
        return timezone.make_aware(dt.datetime.combine(day, local.time()), local.tzinfo)


def end_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59, 59)))
