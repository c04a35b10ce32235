"""热点: the categories and districts whose registrations rise fastest.

Counts ``Ticket.registered_at`` in the last window (24 hours, 7 days) against
the window before it, per top-level category and per district: one grouped
query over the longest pair of windows; names come from the small category
roots and area tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from routing.models import Area, Category, Ticket, path_ids

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


def _window_counts(now: dt.datetime) -> dict[tuple[str, str], dict[tuple[int | None, int | None], int]]:
    """Registrations per (category, area) in each window and the window before it, in one pass
    over the longest pair of windows: ``{(window, "current"|"previous"): {(category_id, area_id): n}}``."""
    counts = {}
    for name, window in WINDOWS.items():
        counts[f"{name}_current"] = Count("registered_at", filter=Q(registered_at__gte=now - window))
        counts[f"{name}_previous"] = Count("registered_at", filter=Q(registered_at__lt=now - window, registered_at__gte=now - 2 * window))
    longest = max(WINDOWS.values())
    rows = Ticket.objects.filter(registered_at__gte=now - 2 * longest, registered_at__lt=now).values("category_id", "area_id").annotate(**counts).order_by()
    result: dict = {(name, half): {} for name in WINDOWS for half in ("current", "previous")}
    for row in rows:
        for name in WINDOWS:
            for half in ("current", "previous"):
                if row[f"{name}_{half}"]:
                    result[(name, half)][(row["category_id"], row["area_id"])] = row[f"{name}_{half}"]
    return result


def _by(counts: dict[tuple[int | None, int | None], int], position: int) -> dict[int | None, int]:
    summed: dict[int | None, int] = {}
    for key, n in counts.items():
        summed[key[position]] = summed.get(key[position], 0) + n
    return summed


def _category_roots(ids) -> tuple[dict[int, int], dict[int, str]]:
    paths = dict(Category.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path"))
    roots = {pk: path_ids(path)[0] for pk, path in paths.items()}
    names = dict(Category.objects.filter(pk__in=set(roots.values())).values_list("pk", "name"))
    return roots, names


def _districts(ids) -> tuple[dict[int, int], dict[int, str]]:
    paths = dict(Area.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "path"))
    ancestors = {pk for path in paths.values() for pk in path_ids(path)}
    kinds = {pk: (kind, name) for pk, kind, name in Area.objects.filter(pk__in=ancestors).values_list("pk", "kind", "name")}
    roots = {}
    for pk, path in paths.items():
        chain = path_ids(path)
        district = next((a for a in chain if kinds.get(a, ("",))[0] == Area.Kind.DISTRICT), chain[0])
        roots[pk] = district
    return roots, {pk: name for pk, (_kind, name) in kinds.items()}


def _ranked(current: dict[int | None, int], previous: dict[int | None, int], group, limit: int) -> list[Spot]:
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
    counts = _window_counts(now)
    return {
        name: {
            "categories": _ranked(_by(counts[(name, "current")], 0), _by(counts[(name, "previous")], 0), _category_roots, limit),
            "areas": _ranked(_by(counts[(name, "current")], 1), _by(counts[(name, "previous")], 1), _districts, limit),
        }
        for name in WINDOWS
    }
