"""Reply review as the hotline uses it: stored with each reply, decided with the dispatcher's review, counted per department.

The assessment itself is ``routing.intelligence.review.assess`` (relevance,
completeness, buck-passing, boilerplate, timeliness). Here:

* ``assess_draft(ticket, text, basis)`` — what the department sees before it sends and the
  dispatcher sees at ``approve_reply``;
* ``safe_assess`` then ``record`` — ``actions.reply_ticket`` assesses before it locks the ticket
  and stores one ``ReplyReview`` per reply inside the reply's transaction. A failing
  assessment never blocks a reply: it is logged and the reply is sent without a review;
* ``decide(ticket, outcome)`` — ``approve_reply`` / ``reject_reply`` settle the pending review;
* ``quality(start, end)`` — the supervisor's figures per department: replies reviewed, average
  relevance and completeness, share flagged, replies sent back.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Avg, Count, Q
from django.utils import timezone

from routing.intelligence import review
from routing.models import Department, ReplyReview, Ticket

log = logging.getLogger("routing.reviews")


def assess_draft(ticket: Ticket, text: str, *, basis: str = "", at: dt.datetime | None = None) -> review.Assessment:
    return review.assess_ticket(ticket, text, basis=basis, at=at or timezone.now())


def safe_assess(ticket: Ticket, text: str, *, basis: str, at: dt.datetime) -> review.Assessment | None:
    """The review of a reply about to be sent, or None (logged) when it cannot be made:
    a failing assessment never blocks a reply."""
    try:
        return review.assess_ticket(ticket, text, basis=basis, at=at)
    except Exception:  # noqa: BLE001 - the reply matters more than its review
        log.exception("reply review failed for ticket %s; the reply is sent without a review", ticket.number)
        return None


def record(ticket: Ticket, result: review.Assessment | None, *, at: dt.datetime, department: Department | None) -> ReplyReview | None:
    """Store the review of the reply being sent (the caller's transaction holds the reply)."""
    if result is None:
        return None
    return ReplyReview.objects.create(
        ticket=ticket, department=department, replied_at=at, relevance=result.relevance, completeness=result.completeness,
        passing=result.passing, boilerplate=result.boilerplate, timely=result.timely, flagged=result.flagged,
        result=result.as_dict(), version=result.version,
    )  # fmt: skip


def decide(ticket: Ticket, outcome: str) -> int:
    """The dispatcher approved or sent back the reply: its pending review takes that outcome."""
    return ReplyReview.objects.filter(ticket=ticket, outcome=ReplyReview.Outcome.PENDING).update(outcome=outcome, decided_at=timezone.now())


def current(ticket_ids) -> dict[int, ReplyReview]:
    """The latest review of each ticket, in one query (the dispatcher's page)."""
    latest: dict[int, ReplyReview] = {}
    for r in ReplyReview.objects.filter(ticket_id__in=list(ticket_ids)).order_by("ticket_id", "-replied_at", "-id"):
        latest.setdefault(r.ticket_id, r)
    return latest


def summary(r: ReplyReview | None) -> dict | None:
    """What the ticket's timeline event keeps of a review."""
    if r is None:
        return None
    return {"relevance": round(r.relevance, 3), "completeness": round(r.completeness, 3), "flagged": r.flagged, "version": r.version}


def quality(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per department, the replies sent in ``[start, end)``: how many, average relevance and
    completeness, how many flagged and how many sent back by the dispatcher; most flagged first."""
    rows = (
        ReplyReview.objects.filter(replied_at__gte=start, replied_at__lt=end)
        .values("department_id", "department__code", "department__name")
        .annotate(
            replies=Count("id"),
            relevance=Avg("relevance"),
            completeness=Avg("completeness"),
            flagged=Count("id", filter=Q(flagged=True)),
            passing=Count("id", filter=Q(passing__gte=0.5)),
            rejected=Count("id", filter=Q(outcome=ReplyReview.Outcome.REJECTED)),
        )
    )
    out = []
    for row in rows:
        n = row["replies"]
        out.append(
            {
                "department": {"code": row["department__code"], "name": row["department__name"]} if row["department_id"] else None,
                "replies": n,
                "relevance": round(row["relevance"], 3),
                "completeness": round(row["completeness"], 3),
                "flagged": row["flagged"],
                "flagged_share": round(row["flagged"] / n, 3),
                "passing": row["passing"],
                "rejected": row["rejected"],
                "rejected_share": round(row["rejected"] / n, 3),
            }
        )
    out.sort(key=lambda r: (-r["flagged_share"], -r["replies"]))
    return out
