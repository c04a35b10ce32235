"""重复件 and 同类件: earlier tickets about the same problem as a new one.

* **重复件** (same caller): the caller's own open tickets whose text is close to
  the new one: "this caller reported … 3 days ago".
* **同类件** (other callers): tickets of the last ``WINDOW`` about the same
  problem, in the same hot issue or close to its text, ranked by text similarity
  with a bonus for the same place (area, or an address sharing most of its
  characters).

Both read the signatures of ``routing.intelligence.similarity`` (the shared text
representation); other callers' tickets are found through the hot issues'
inverted index, so the look-up costs a few indexed queries whatever the size of
the history. The agent's console asks while the call is being registered
(``POST /api/v1/repeats/``); the dispatch page for each ticket waiting for dispatch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from routing import hotissues
from routing.intelligence import similarity
from routing.models import Area, Citizen, HotIssue, HotIssueTerm, Ticket, TicketSignature, phone_digest
from routing.states import State

WINDOW = dt.timedelta(days=30)
SAME_CALLER_MIN = 0.20
SIMILAR_MIN = 0.20  # pairwise cosine; of unrelated real messages 99.9 % of pairs are below 0.12
PLACE_BONUS = 0.08
CANDIDATE_ISSUES = 5
MERGEABLE = sorted(s for s in State.values if s not in State.final())


@dataclass
class Repeat:
    ticket: Ticket
    score: float
    same_place: bool = False

    @property
    def days_ago(self) -> int:
        return max(0, (timezone.localdate() - timezone.localdate(self.ticket.registered_at)).days)


@dataclass
class Repeats:
    same_caller: list[Repeat] = field(default_factory=list)
    similar: list[Repeat] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.same_caller or self.similar)


def _address_close(a: str, b: str) -> bool:
    a, b = "".join(a.split()), "".join(b.split())
    if len(a) < 4 or len(b) < 4:
        return False
    x, y = {a[i : i + 2] for i in range(len(a) - 1)}, {b[i : i + 2] for i in range(len(b) - 1)}
    return len(x & y) / min(len(x), len(y)) >= 0.6


def _same_place(ticket: Ticket, area: Area | None, address: str) -> bool:
    if area is not None and ticket.area_id is not None:
        # The same place: one area inside the other, below district level (a whole district is not a place).
        if ticket.area_id == area.pk or (area.level >= 3 and area.pk in ticket.area.ancestor_ids()) or (ticket.area.level >= 3 and ticket.area_id in area.ancestor_ids()):
            return True
    return bool(address and ticket.address and _address_close(address, ticket.address))


def _signatures(tickets: list[Ticket]) -> dict[int, similarity.Signature]:
    """Stored signatures; computed for tickets the worker has not reached yet."""
    stored = {pk: similarity.Signature.from_bytes(terms) for pk, terms in TicketSignature.objects.filter(ticket_id__in=[t.pk for t in tickets]).values_list("ticket_id", "terms")}
    missing = [t for t in tickets if t.pk not in stored]
    for ticket, sig in zip(missing, similarity.signatures((t.title, t.description) for t in missing), strict=True):
        stored[ticket.pk] = sig
    return stored


def find(
    *, title: str = "", text: str, phone: str = "", citizen: Citizen | None = None, area: Area | None = None, address: str = "",
    exclude: Ticket | None = None, at: dt.datetime | None = None, limit: int = 5,
) -> Repeats:  # fmt: skip
    """Earlier tickets about the same problem as a message being registered (or ``exclude``, registered already)."""
    at = at or timezone.now()
    sig = similarity.signature(title, text)
    if not len(sig.columns):
        return Repeats()
    if citizen is None and phone:
        citizen = Citizen.objects.filter(phone_digest=phone_digest(phone)).first()
    result = Repeats()
    not_self = ~Q(pk=exclude.pk) if exclude is not None else Q()
    if citizen is not None:
        own = list(Ticket.objects.filter(not_self, citizen=citizen, state__in=MERGEABLE).select_related("area", "department").order_by("-registered_at")[:50])
        sigs = _signatures(own)
        scored = [Repeat(t, round(similarity.cosine(sig, sigs[t.pk]), 3), _same_place(t, area, address)) for t in own]
        own_scored = scored
    # Other callers: the members of the issues closest to this text.
    partial: dict[int, float] = defaultdict(float)
    weights = dict(zip(sig.columns.tolist(), sig.weights.tolist(), strict=True))
    for issue_id, column, weight in HotIssueTerm.objects.filter(column__in=sig.probe(hotissues.PROBE_TERMS), issue__last_at__gte=at - WINDOW).values_list(
        "issue_id", "column", "weight"
    ):
        partial[issue_id] += weights[column] * weight
    issues = sorted(partial, key=lambda k: -partial[k])[:CANDIDATE_ISSUES]
    # The issue this message belongs to (or would join): all its members are the same problem.
    home = TicketSignature.objects.filter(ticket_id=exclude.pk).values_list("issue_id", flat=True).first() if exclude is not None else None
    if home is None and issues:
        centroids = {pk: hotissues._as_cluster(i).unit() for pk, i in HotIssue.objects.in_bulk(issues).items()}
        best = max(issues, key=lambda pk: similarity.cosine(sig, centroids[pk]) if pk in centroids else 0.0)
        if best in centroids and similarity.cosine(sig, centroids[best]) >= hotissues.JOIN_THRESHOLD:
            home = best
    if home and home not in issues:
        issues.append(home)
    home_members = set(TicketSignature.objects.filter(issue_id=home).values_list("ticket_id", flat=True)) if home else set()
    if citizen is not None:
        result.same_caller = sorted((r for r in own_scored if r.score >= SAME_CALLER_MIN or r.ticket.pk in home_members), key=lambda r: -r.score)[:limit]
    seen = {r.ticket.pk for r in result.same_caller}
    query = (
        Ticket.objects.filter(not_self, signature__issue_id__in=issues, registered_at__gte=at - WINDOW, registered_at__lte=at + dt.timedelta(minutes=1))
        .exclude(pk__in=seen)
        .exclude(state=State.MERGED)
        .select_related("area", "department")
    )
    if citizen is not None:
        query = query.exclude(citizen=citizen)
    others = list(query.order_by("-registered_at")[:500])
    sigs = _signatures(others)
    scored = []
    for t in others:
        place = _same_place(t, area, address)
        score = similarity.cosine(sig, sigs[t.pk]) + (PLACE_BONUS if place else 0.0)
        if score >= SIMILAR_MIN or t.pk in home_members:
            scored.append(Repeat(t, round(min(score, 1.0), 3), place))
    result.similar = sorted(scored, key=lambda r: (-r.score, -r.ticket.registered_at.timestamp()))[:limit]
    return result


def for_ticket(ticket: Ticket, *, limit: int = 5) -> Repeats:
    return find(
        title=ticket.title, text=ticket.description, citizen=ticket.citizen, area=ticket.area, address=ticket.address,
        exclude=ticket, at=ticket.registered_at, limit=limit,
    )  # fmt: skip
