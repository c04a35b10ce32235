"""热点问题: tickets about one problem, found as they arrive, ranked by a heat index.

Clustering is incremental and single-pass: a ticket's signature
(``routing.intelligence.similarity``) is compared with the centroids of the issues
that were active in the ``WINDOW`` before it, found through an inverted index of
their strongest terms (``HotIssueTerm``); it joins the closest when the cosine is
at least ``JOIN_THRESHOLD``, or starts an issue of its own. The same ``Clusterer``
runs on one ticket at a time in the worker (``hotissue.join`` outbox jobs queued at
intake) and on a whole import at once (``cluster_tickets``); only where the issues
are loaded from differs.

Heat index of an issue over a period (``heat``), written down in docs/INTELLIGENCE.md:

    heat = 10 × [ln(1+N) + 2·ln(1+C) + 0.5·ln(1+L)] × (0.5 + 0.5·K) × (1 + min(ln G, 1.5)⁺) × (0.25 + 0.75·R)

N members in the period, C distinct callers (capped at N), L endorsements (点赞),
K concentration (share of the members in the busiest 3 days), G growth (members in
the last 7 days of the period + 1 over the 7 days before + 1), R recency
(0.5 ^ (days from the last member to the period's end / 7)). Distinct callers weigh
twice the count: forty people are a hot issue, one person calling forty times is not.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter

import jieba
import numpy as np
from django.db import connection, transaction
from django.db.models import F, Q, Value, Window
from django.db.models.functions import Least, RowNumber, Substr
from django.utils import timezone
from sklearn.utils import murmurhash3_32

from routing import groups, outbox
from routing.intelligence import similarity
from routing.intelligence import text as rep
from routing.models import HotIssue, HotIssueTerm, IntelligencePolicy, Ticket, TicketSignature
from routing.roles import Role

WINDOW = dt.timedelta(days=14)  # an issue takes new members until it has been quiet this long
JOIN_THRESHOLD = 0.10  # cosine of a ticket to an issue's centroid (calibrated in docs/INTELLIGENCE.md)
MERGE_THRESHOLD = 0.24  # cosine of two issues' centroids
CENTROID_TERMS = 128
INDEX_TERMS = 16
PROBE_TERMS = 24
CANDIDATES = 4
SIGNATURE_BATCH = 2000  # an import's signatures are cut in batches on other cores while the ones before are clustered
SAVE_EVERY = 20000
CONSOLIDATE_ALWAYS = 16  # issues up to this size look for an issue to merge with after every new member,
CONSOLIDATE_EVERY = 8  # larger ones after every eighth
TITLE_SAMPLE = 5
KEYWORDS = 6
# "Growing fast": supervisors are told once.
ALERT_RECENT = dt.timedelta(hours=48)
ALERT_MIN_RECENT = 5
ALERT_MIN_CALLERS = 3
ALERT_MIN_GROWTH = 2.0

_PLACE = re.compile(
    r"[\u4e00-\u9fa5A-Za-z0-9]{2,10}?(?:小区|花园|新城|家园|公寓|大厦|广场|市场|公园|学院|大学|中学|小学|幼儿园|医院|村|镇|街道|社区|路|街|大道|站|厂)"
)


# --- the algorithm ----------------------------------------------------------
@dataclass(eq=False)
class Cluster:
    key: int  # the HotIssue pk, or a negative number for an issue not saved yet
    total: dict[int, float]  # summed member signatures, the strongest CENTROID_TERMS columns
    last_at: dt.datetime
    first_at: dt.datetime
    count: int = 0
    changed: bool = False
    joined: list[tuple[int, float, dt.datetime]] = field(default_factory=list)  # (ticket id, cosine, registered) added in this run

    _unit: dict[int, float] | None = None
    _strongest: list[tuple[int, float]] | None = None

    def unit(self) -> dict[int, float]:
        """The centroid at unit length (kept until the cluster changes)."""
        if self._unit is None:
            norm = math.sqrt(sum(v * v for v in self.total.values())) or 1.0
            self._unit = {c: v / norm for c, v in self.total.items()}
        return self._unit

    def strongest(self) -> list[tuple[int, float]]:
        """The unit centroid's (column, weight), strongest first."""
        if self._strongest is None:
            self._strongest = sorted(self.unit().items(), key=itemgetter(1), reverse=True)
        return self._strongest

    def add(self, sig: similarity.Signature | dict[int, float]) -> None:
        total = self.total
        items = sig.items() if isinstance(sig, dict) else zip(sig.columns.tolist(), sig.weights.tolist(), strict=True)
        for c, w in items:
            total[c] = total.get(c, 0.0) + w
        if len(total) > CENTROID_TERMS:
            self.total = dict(sorted(total.items(), key=itemgetter(1), reverse=True)[:CENTROID_TERMS])
        self._unit = self._strongest = None


class Clusterer:
    """Issues in memory with an inverted index of their strongest terms."""

    def __init__(self):
        self.clusters: dict[int, Cluster] = {}
        self.index: dict[int, dict[int, float]] = defaultdict(dict)  # column → {cluster key: unit weight}
        self._indexed: dict[int, list[int]] = {}
        self._next_new = -1
        self.absorbed: list[tuple[int, Cluster, float]] = []  # (key of an issue merged away, the issue it went into, their cosine)
        self.merged_into: dict[int, Cluster] = {}

    def rename(self, old: int, new: int) -> None:
        """A new issue was saved: its temporary key becomes its id."""
        cluster = self.clusters.pop(old)
        cluster.key = new
        self.clusters[new] = cluster
        self._indexed[new] = self._indexed.pop(old, [])
        for column in self._indexed[new]:
            self.index[column][new] = self.index[column].pop(old)

    def settle(self, *, before: dt.datetime) -> None:
        """After a save: nothing is pending, and issues quiet since ``before`` leave memory (none can join them)."""
        for key in [k for k, c in self.clusters.items() if c.last_at < before]:
            for column in self._indexed.pop(key, ()):
                self.index[column].pop(key, None)
            del self.clusters[key]
        for cluster in self.clusters.values():
            cluster.changed = False
            cluster.joined = []

    def load(self, cluster: Cluster) -> None:
        self.clusters[cluster.key] = cluster
        self._reindex(cluster)

    def _reindex(self, cluster: Cluster) -> None:
        for column in self._indexed.get(cluster.key, ()):
            self.index[column].pop(cluster.key, None)
        strongest = cluster.strongest()[:INDEX_TERMS]
        for column, weight in strongest:
            self.index[column][cluster.key] = weight
        self._indexed[cluster.key] = [c for c, _ in strongest]

    def _candidates(self, probe: Iterable[tuple[int, float]], at: dt.datetime, *, besides: int | None = None) -> list[Cluster]:
        """The active issues sharing most of ``probe``'s weight in the index, the likeliest first."""
        partial: dict[int, float] = defaultdict(float)
        for column, weight in probe:
            for key, w in self.index.get(column, {}).items():
                partial[key] += weight * w
        partial.pop(besides, None)
        oldest = at - WINDOW
        likeliest = sorted(partial, key=partial.__getitem__, reverse=True)[:CANDIDATES]
        return [self.clusters[key] for key in likeliest if self.clusters[key].last_at >= oldest]

    def best(self, sig: similarity.Signature, at: dt.datetime) -> tuple[Cluster | None, float]:
        terms = sig.as_dict()
        best, best_score = None, 0.0
        for cluster in self._candidates(zip(sig.probe(PROBE_TERMS), sig.weights[:PROBE_TERMS].tolist()), at):
            score = _dot(terms, cluster.unit())
            if score > best_score:
                best, best_score = cluster, score
        return best, best_score

    def add(self, ticket_id: int, sig: similarity.Signature, at: dt.datetime) -> Cluster:
        cluster, score = self.best(sig, at) if len(sig.columns) else (None, 0.0)
        if cluster is None or score < JOIN_THRESHOLD:
            cluster, score = Cluster(key=self._next_new, total={}, last_at=at, first_at=at), 1.0
            self._next_new -= 1
            self.clusters[cluster.key] = cluster
        cluster.add(sig)
        cluster.count += 1
        cluster.last_at = max(cluster.last_at, at)
        cluster.first_at = min(cluster.first_at, at)
        cluster.changed = True
        cluster.joined.append((ticket_id, round(score, 4), at))
        self._reindex(cluster)
        if cluster.count > CONSOLIDATE_ALWAYS and cluster.count % CONSOLIDATE_EVERY:
            return cluster  # a large issue moves little with one more ticket: it looks for issues to merge now and then
        return self._consolidate(cluster, at)

    def _consolidate(self, cluster: Cluster, at: dt.datetime) -> Cluster:
        """Two issues that have grown towards each other become one (the smaller joins the larger):
        a single pass would otherwise keep one problem split by the order its messages came in."""
        while cluster.count >= 2:
            unit = cluster.unit()
            other, cosine = None, 0.0
            for candidate in self._candidates(cluster.strongest()[:PROBE_TERMS], at, besides=cluster.key):
                score = _dot(unit, candidate.unit())
                if score >= MERGE_THRESHOLD and score > cosine:
                    other, cosine = candidate, score
            if other is None:
                return cluster
            big, small = (cluster, other) if (cluster.count, -cluster.key) >= (other.count, -other.key) else (other, cluster)
            big.add(small.total)
            big.count += small.count
            big.first_at, big.last_at = min(big.first_at, small.first_at), max(big.last_at, small.last_at)
            # The smaller issue's members joined this one at the merge's cosine: one that started its issue
            # (1.0 there) is no closer to this one than that, and must not become its title (saved members
            # are capped the same way when they move, in ``_save``).
            big.joined.extend((ticket_id, min(was, round(cosine, 4)), joined_at) for ticket_id, was, joined_at in small.joined)
            big.changed = True
            self.absorbed.append((small.key, big, round(cosine, 4)))
            self.merged_into[small.key] = big
            for column in self._indexed.pop(small.key, ()):
                self.index[column].pop(small.key, None)
            del self.clusters[small.key]
            self._reindex(big)
            cluster = big
        return cluster


def _dot(a: dict[int, float], b: dict[int, float]) -> float:
    """Dot product of two sparse vectors (column → weight)."""
    if len(a) > len(b):
        a, b = b, a
    return sum(a[c] * b[c] for c in a.keys() & b.keys())


def _centroid_bytes(total: dict[int, float]) -> bytes:
    items = sorted(total.items(), key=lambda kv: -kv[1])
    return similarity.Signature(np.array([c for c, _ in items], dtype=np.int32), np.array([w for _, w in items], dtype=np.float32)).to_bytes()


def _as_cluster(issue: HotIssue) -> Cluster:
    sig = similarity.Signature.from_bytes(issue.centroid)
    return Cluster(key=issue.pk, total=sig.as_dict(), last_at=issue.last_at, first_at=issue.first_at, count=issue.count)


def _load_active(clusterer: Clusterer, *, since: dt.datetime, until: dt.datetime, columns: Iterable[int] | None = None) -> None:
    """Load the issues active in [since, until] (those sharing one of ``columns``, when given)."""
    issues = HotIssue.objects.filter(last_at__gte=since, first_at__lte=until)
    if columns is not None:
        issues = issues.filter(pk__in=HotIssueTerm.objects.filter(column__in=list(columns)).values("issue_id"))
    for issue in issues.only("pk", "centroid", "last_at", "first_at", "count").iterator(chunk_size=2000):
        clusterer.load(_as_cluster(issue))


# --- persisting a run -------------------------------------------------------
def _save(clusterer: Clusterer, signatures: dict[int, similarity.Signature]) -> list[int]:
    """Write the changed issues, their index terms and the members' signatures, and fold the issues
    merged away into the ones they joined; returns the ids of the issues to refresh."""
    changed = [c for c in clusterer.clusters.values() if c.changed]
    new = [c for c in changed if c.key < 0]
    created = HotIssue.objects.bulk_create(
        [HotIssue(title="", first_at=c.first_at, last_at=c.last_at, count=c.count, centroid=_centroid_bytes(c.total)) for c in new], batch_size=2000
    )
    for cluster, issue in zip(new, created, strict=True):
        clusterer.rename(cluster.key, issue.pk)
    merged_away = []
    for small_key, big, cosine in clusterer.absorbed:
        while big.key in clusterer.merged_into:  # the issue it joined was merged on in its turn
            big = clusterer.merged_into[big.key]
        if small_key > 0:  # saved before: its members move, the row goes
            TicketSignature.objects.filter(issue_id=small_key).update(issue_id=big.key, similarity=Least("similarity", Value(cosine)))
            merged_away.append(small_key)
    if merged_away:
        HotIssue.objects.filter(pk__in=merged_away).delete()
    clusterer.absorbed.clear()
    clusterer.merged_into.clear()
    fresh = {id(c) for c in new}
    old = [c for c in changed if id(c) not in fresh]
    if old:
        issues = [HotIssue(pk=c.key, title="", first_at=c.first_at, last_at=c.last_at, count=c.count, centroid=_centroid_bytes(c.total)) for c in old]
        _upsert(issues, ["first_at", "last_at", "count", "centroid"])
        keys = [c.key for c in old]
        for start in range(0, len(keys), 5000):
            HotIssueTerm.objects.filter(issue_id__in=keys[start : start + 5000]).delete()
    terms = []
    for cluster in changed:
        for column, weight in cluster.strongest()[:INDEX_TERMS]:
            terms.append(HotIssueTerm(issue_id=cluster.key, column=column, weight=weight))
    HotIssueTerm.objects.bulk_create(terms, batch_size=5000)
    adapt = connection.ops.adapt_datetimefield_value
    members = [
        (ticket_id, signatures[ticket_id].to_bytes(), cluster.key, score, adapt(at))
        for cluster in changed
        for ticket_id, score, at in cluster.joined
    ]
    with connection.cursor() as cursor:  # one statement, many rows: a third of bulk_create's time for an import's 100,000
        cursor.executemany(_UPSERT_MEMBERS, members)
    return [c.key for c in changed]


_UPSERT_MEMBERS = (
    f"INSERT INTO {TicketSignature._meta.db_table} (ticket_id, terms, issue_id, similarity, registered_at) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (ticket_id) DO UPDATE SET terms = excluded.terms, issue_id = excluded.issue_id, similarity = excluded.similarity, "
    "registered_at = excluded.registered_at"
)


def _upsert(issues: list[HotIssue], fields: list[str]) -> None:
    """Update ``fields`` of existing rows in one statement per batch (INSERT … ON CONFLICT (id) DO UPDATE):
    Django's ``bulk_update`` writes a CASE per row and field, seconds for a few thousand rows."""
    HotIssue.objects.bulk_create(issues, batch_size=2000, update_conflicts=True, unique_fields=["id"], update_fields=fields)


# --- what a person reads: title, place, keywords, counts, heat ---------------
def _day(at: dt.datetime) -> str:
    return timezone.localtime(at).date().isoformat()


def heat(days: dict[str, int], callers: int, endorsements: int, *, start: dt.date | None = None, end: dt.date) -> tuple[float, int]:
    """The heat index over [start, end] (see the module docstring) and the members in it."""
    first, last = (start.toordinal() if start else 0), end.toordinal()
    counts: dict[int, int] = {}  # day (ordinal) → members
    for d, n in days.items():
        day = dt.date.fromisoformat(d).toordinal()
        if first <= day <= last:
            counts[day] = n
    n = sum(counts.values())
    if n == 0:
        return 0.0, 0
    c = min(callers, n)
    busiest = max(n_day + counts.get(day + 1, 0) + counts.get(day + 2, 0) for day, n_day in counts.items())
    concentration = busiest / n
    last7 = sum(v for d, v in counts.items() if last - d < 7)
    prev7 = sum(v for d, v in counts.items() if 7 <= last - d < 14)
    growth = (last7 + 1) / (prev7 + 1)
    recency = 0.5 ** ((last - max(counts)) / 7)
    base = math.log1p(n) + 2 * math.log1p(c) + 0.5 * math.log1p(endorsements)
    value = 10 * base * (0.5 + 0.5 * concentration) * (1 + min(max(math.log(growth), 0.0), 1.5)) * (0.25 + 0.75 * recency)
    return round(value, 2), n


def _column(token: str) -> int:
    return abs(murmurhash3_32(token, seed=0)) % rep.N_FEATURES


def _keywords(titles: list[str], unit: dict[int, float]) -> list[str]:
    """Words of the representative titles, by how much of the centroid their bigrams carry."""
    scores: dict[str, float] = {}
    for title in titles:
        for word in jieba.lcut(rep.normalize(title)):
            word = word.strip()
            if len(word) < 2 or word.isdigit() or "0" in word:
                continue
            grams = [word[i : i + 2] for i in range(len(word) - 1)]
            score = sum(unit.get(_column("c:" + g), 0.0) for g in grams) / len(grams)
            if score > 0:
                scores[word] = max(scores.get(word, 0.0), score)
    return sorted(scores, key=lambda w: -scores[w])[:KEYWORDS]


def _place(rows: list[dict]) -> tuple[str, int | None]:
    areas = Counter((r["ticket__area_id"], r["ticket__area__name"]) for r in rows if r["ticket__area_id"])
    if areas:
        (area_id, name), _ = areas.most_common(1)[0]
        return name, area_id
    addresses = Counter(r["ticket__address"].strip() for r in rows if r["ticket__address"].strip())
    if addresses:
        address, n = addresses.most_common(1)[0]
        if n >= 2 or len(rows) == 1:
            return address[:200], None
    places = Counter()
    for r in rows:
        places.update(set(_PLACE.findall(rep.normalize(f"{r['ticket__title']} {r['head']}"))))
    if places:
        place, n = places.most_common(1)[0]
        if n >= max(2, len(rows) // 4) or len(rows) == 1:
            return place, None
    return "", None


def refresh(issue_ids: Iterable[int], *, alert: bool = True, now: dt.datetime | None = None) -> None:
    """Recompute what the issues show from their members (counts, callers, days, title, keywords, place, heat)."""
    ids = sorted(set(issue_ids))
    now = now or timezone.now()
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        rows: dict[int, list[dict]] = defaultdict(list)
        for row in (
            TicketSignature.objects.filter(issue_id__in=chunk)
            .annotate(head=Substr("ticket__description", 1, 200))  # what a title or a place is read from
            .values(
                "issue_id", "similarity", "ticket_id", "ticket__registered_at", "ticket__citizen_id", "ticket__endorsements",
                "ticket__title", "head", "ticket__address", "ticket__area_id", "ticket__area__name",
            )
            .iterator(chunk_size=5000)
        ):  # fmt: skip
            rows[row["issue_id"]].append(row)
        issues = {i.pk: i for i in HotIssue.objects.filter(pk__in=chunk)}
        for pk, members in rows.items():
            issue = issues[pk]
            issue.count = len(members)
            citizens = {m["ticket__citizen_id"] for m in members if m["ticket__citizen_id"]}
            issue.callers = len(citizens) + sum(1 for m in members if not m["ticket__citizen_id"])
            issue.endorsements = sum(m["ticket__endorsements"] for m in members)
            issue.first_at = min(m["ticket__registered_at"] for m in members)
            issue.last_at = max(m["ticket__registered_at"] for m in members)
            issue.days = dict(sorted(Counter(_day(m["ticket__registered_at"]) for m in members).items()))
            representative = sorted(members, key=lambda m: (-m["similarity"], m["ticket__registered_at"]))[:TITLE_SAMPLE]
            issue.title = (representative[0]["ticket__title"] or representative[0]["head"][:40])[:200]
            issue.place, issue.area_id = _place(members)
            if issue.count >= 2:
                unit = _as_cluster(issue).unit()
                issue.keywords = _keywords([m["ticket__title"] or m["head"][:40] for m in representative], unit)
            issue.heat, _n = heat(issue.days, issue.callers, issue.endorsements, end=timezone.localtime(issue.last_at).date())
            if alert and issue.notified_at is None and _growing_fast(issue, members, now):
                issue.notified_at = now
                with transaction.atomic():
                    outbox.enqueue("hotissue.alert", {"issue_id": issue.pk}, key=f"hotissue.alert:{issue.pk}")
        _upsert(
            [issues[pk] for pk in rows],
            ["count", "callers", "endorsements", "first_at", "last_at", "days", "title", "place", "area", "keywords", "heat", "notified_at"],
        )


def _growing_fast(issue: HotIssue, members: list[dict], now: dt.datetime) -> bool:
    recent = [m for m in members if m["ticket__registered_at"] >= now - ALERT_RECENT]
    before = [m for m in members if now - 2 * ALERT_RECENT <= m["ticket__registered_at"] < now - ALERT_RECENT]
    callers = {m["ticket__citizen_id"] or -m["ticket_id"] for m in recent}
    return len(recent) >= ALERT_MIN_RECENT and len(callers) >= ALERT_MIN_CALLERS and (len(recent) + 1) / (len(before) + 1) >= ALERT_MIN_GROWTH


# --- the two ways in ----------------------------------------------------------
def join(ticket: Ticket) -> HotIssue | None:
    """Add one new ticket to its issue (the worker's ``hotissue.join`` job). Idempotent."""
    if TicketSignature.objects.filter(ticket_id=ticket.pk, issue__isnull=False).exists():
        return TicketSignature.objects.get(ticket_id=ticket.pk).issue
    sig = similarity.signature(ticket.title, ticket.description)
    with transaction.atomic():
        # One join at a time: two tickets about a new problem arriving together must meet in one issue.
        IntelligencePolicy.objects.get_or_create(pk=1)
        IntelligencePolicy.objects.select_for_update().get(pk=1)
        clusterer = Clusterer()
        _load_active(clusterer, since=ticket.registered_at - WINDOW, until=ticket.registered_at, columns=sig.probe(PROBE_TERMS))
        cluster = clusterer.add(ticket.pk, sig, ticket.registered_at)
        ids = _save(clusterer, {ticket.pk: sig})
    refresh(ids)
    return HotIssue.objects.get(pk=cluster.key)


def cluster_tickets(tickets: Iterable[Ticket] | None = None, *, progress: Callable[[int, int], None] | None = None, alert: bool = False) -> dict:
    """Cluster many tickets at once, in time order (an import, or a first run over the history).

    Tickets that already have an issue are left as they are; issues active around
    the new tickets' times are loaded, so the result is what joining one at a time
    would give."""
    query = Ticket.objects.filter(Q(signature__isnull=True) | Q(signature__issue__isnull=True))
    fields = ("pk", "title", "description", "registered_at")
    if tickets is None:
        rows = list(query.values_list(*fields))
    else:
        ids = [t.pk if isinstance(t, Ticket) else t for t in tickets]
        rows = [row for start in range(0, len(ids), 5000) for row in query.filter(pk__in=ids[start : start + 5000]).values_list(*fields)]
    rows.sort(key=lambda r: (r[3], r[0]))
    if not rows:
        return {"tickets": 0, "issues": 0}
    clusterer = Clusterer()
    _load_active(clusterer, since=rows[0][3] - WINDOW, until=rows[-1][3])
    touched: set[int] = set()
    batches = [rows[start : start + SIGNATURE_BATCH] for start in range(0, len(rows), SIGNATURE_BATCH)]
    processes = min(os.cpu_count() or 1, 4) if len(rows) >= 2 * SIGNATURE_BATCH else 1
    signatures: dict[int, similarity.Signature] = {}
    done = 0
    for batch, sigs in zip(batches, similarity.signature_batches([[(r[1], r[2]) for r in b] for b in batches], processes=processes), strict=True):
        for (pk, _title, _text, at), sig in zip(batch, sigs, strict=True):
            signatures[pk] = sig
            clusterer.add(pk, sig, at)
        done += len(batch)
        if len(signatures) >= SAVE_EVERY or done == len(rows):
            with transaction.atomic():
                touched.update(_save(clusterer, signatures))
            signatures = {}
            clusterer.settle(before=batch[-1][3] - WINDOW)  # memory holds the active issues only
            if progress:
                progress(done, len(rows))
    existing = set(HotIssue.objects.filter(pk__in=list(touched)).values_list("pk", flat=True)) if len(touched) < 30000 else touched
    refresh(existing, alert=alert)
    return {"tickets": len(rows), "issues": len(existing)}


def prune(*, now: dt.datetime | None = None) -> int:
    """Drop the index terms of issues quiet for longer than the window: no new ticket can join them."""
    now = now or timezone.now()
    deleted, _ = HotIssueTerm.objects.filter(issue__last_at__lt=now - 2 * WINDOW).delete()
    return deleted


# --- reading ------------------------------------------------------------------
RANK_CANDIDATES = 500
DEFAULT_PERIOD = dt.timedelta(days=30)
MEMBERS_SHOWN = 50


@dataclass
class RankedIssue:
    issue: HotIssue
    heat: float
    count: int
    trend: list[tuple[str, int]]
    tickets: list[dict]


def ranked(*, start: dt.datetime, end: dt.datetime, limit: int = 20, min_count: int = 2) -> list[RankedIssue]:
    """Issues with members in [start, end], hottest first, their heat computed for that period."""
    candidates = list(
        HotIssue.objects.filter(count__gte=min_count, last_at__gte=start, first_at__lte=end)
        .select_related("area")
        .defer("centroid")  # a kilobyte each, not shown
        .order_by("-heat", "-id")[:RANK_CANDIDATES]
    )
    first, last = timezone.localtime(start).date(), timezone.localtime(end).date()
    scored = []
    for issue in candidates:
        value, n = heat(issue.days, issue.callers, issue.endorsements, start=first, end=last)
        if n >= min_count:
            scored.append((value, n, issue))
    scored.sort(key=lambda t: (-t[0], -t[1], -t[2].pk))
    top = scored[:limit]
    members: dict[int, list[dict]] = defaultdict(list)
    if top:
        # The newest members of each issue in the period, cut in the database from one index
        # (issue, registered_at); the tickets table is read for those alone (joined before the cut, a
        # year's large issues read thirty thousand tickets to show five thousand).
        newest_first = Window(RowNumber(), partition_by=[F("issue_id")], order_by=[F("registered_at").desc(), F("ticket_id").desc()])
        newest = (
            TicketSignature.objects.filter(issue_id__in=[i.pk for _, _, i in top], registered_at__gte=start, registered_at__lte=end)
            .annotate(rank=newest_first)
            .filter(rank__lte=MEMBERS_SHOWN)
        )
        numbers = {pk: (number, external_id) for pk, number, external_id in Ticket.objects.filter(pk__in=newest.values("ticket_id")).values_list("pk", "number", "external_id")}
        for issue_id, ticket_id, registered_at in newest.order_by("issue_id", "rank").values_list("issue_id", "ticket_id", "registered_at"):
            number, external_id = numbers[ticket_id]
            members[issue_id].append({"number": number, "external_id": external_id, "registered_at": registered_at})
    result = []
    for value, n, issue in top:
        trend_end = min(last, timezone.localtime(issue.last_at).date())
        trend = [((trend_end - dt.timedelta(days=k)).isoformat(), issue.days.get((trend_end - dt.timedelta(days=k)).isoformat(), 0)) for k in range(13, -1, -1)]
        result.append(RankedIssue(issue=issue, heat=value, count=n, trend=trend, tickets=members[issue.pk]))
    return result


# --- outbox and worker ----------------------------------------------------------
def deliver_join(message) -> dict:
    ticket = Ticket.objects.filter(pk=message.payload["ticket_id"]).first()
    if ticket is None:
        raise outbox.Skip("ticket gone")
    issue = join(ticket)
    return {"issue": issue.pk if issue else None}


def deliver_alert(message) -> dict:
    """Tell the supervisors, live, that an issue grows fast (once per issue: the key is the issue)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    issue = HotIssue.objects.filter(pk=message.payload["issue_id"]).first()
    if issue is None:
        raise outbox.Skip("issue gone")
    data = {"id": issue.pk, "title": issue.title, "count": issue.count, "callers": issue.callers, "place": issue.place, "heat": issue.heat}
    async_to_sync(get_channel_layer().group_send)(groups.role(Role.SUPERVISOR), {"type": "notify", "event": "hot_issue", "data": data})
    return data


outbox.register_handler("hotissue.join", deliver_join)
outbox.register_handler("hotissue.alert", deliver_alert)
