"""热点: the categories and districts whose registrations rise fastest.

Counts ``Ticket.registered_at`` in the last window (24 hours, 7 days) against
the window before it, per top-level category and per district. Two grouped
queries per window; names come from the small category roots and area tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from routing.models import Area, Category, Ticket

WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


@dataclass
class Spot:
    key: int | None
    label: str
    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous

    @property
    def growth(self) -> float | None:
        """Relative rise; None when there was nothing before (a new hot spot)."""
        return None if self.previous == 0 else (self.current - self.previous) / self.previous

    @property
    def growth_percent(self) -> int | None:
        return None if self.growth is None else round(self.growth * 100)


def _counts(field: str, lower: dt.datetime, upper: dt.datetime) -> dict[int | None, int]:
    rows = Ticket.objects.filter(registered_at__gte=lower, registered_at__lt=upper).values(field).annotate(n=Count("id"))
    return {row[field]: row["n"] for row in rows}


def _category_roots(ids) -> tuple[dict[int, int], dict[int, str]]:
    paths = dict(Category.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path"))
    roots = {pk: int(path.strip("/").split("/")[0]) for pk, path in paths.items()}
    names = dict(Category.objects.filter(pk__in=set(roots.values())).values_list("pk", "name"))
    return roots, names


def _districts(ids) -> tuple[dict[int, int], dict[int, str]]:
    paths = dict(Area.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path"))
    ancestors = {int(p) for path in paths.values() for p in path.strip("/").split("/") if p}
    kinds = {pk: (kind, name) for pk, kind, name in Area.objects.filter(pk__in=ancestors).values_list("pk", "kind", "name")}
    roots = {}
    for pk, path in paths.items():
        chain = [int(p) for p in path.strip("/").split("/") if p]
        district = next((a for a in chain if kinds.get(a, ("",))[0] == Area.Kind.DISTRICT), chain[0])
        roots[pk] = district
    return roots, {pk: name for pk, (_kind, name) in kinds.items()}


def _ranked(field: str, group, window: dt.timedelta, now: dt.datetime, limit: int) -> list[Spot]:
    current = _counts(field, now - window, now)
    previous = _counts(field, now - 2 * window, now - window)
    roots, names = group(set(current) | set(previous))
    totals: dict[int, list[int]] = {}
    for counts, index in ((current, 0), (previous, 1)):
        for key, n in counts.items():
            if key is None:
                continue  # tickets without a category or area are no hot spot of anything
            bucket = totals.setdefault(roots.get(key, key), [0, 0])
            bucket[index] += n
    spots = [Spot(key, names.get(key, "—"), cur, prev) for key, (cur, prev) in totals.items() if cur > 0]
    spots.sort(key=lambda s: (-s.delta, -s.current, s.label))
    return [s for s in spots if s.delta > 0][:limit]


def rising(*, now: dt.datetime | None = None, limit: int = 5) -> dict[str, dict[str, list[Spot]]]:
    """``{"24h": {"categories": [...], "areas": [...]}, "7d": {...}}``: rising hot spots, fastest first."""
    now = now or timezone.now()
    return {
        name: {
            "categories": _ranked("category_id", _category_roots, window, now, limit),
            "areas": _ranked("area_id", _districts, window, now, limit),
        }
        for name, window in WINDOWS.items()
    }
