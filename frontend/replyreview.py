"""The stored review of a department's reply, as the dispatcher's page and the ticket page draw it:
the scores, the checklist of what a reply must say with the missing parts marked, the findings,
and the reply text with the buck-passing and boilerplate phrases highlighted."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from routing.intelligence.review import ELEMENTS
from routing.models import ReplyReview, Ticket

_MARKED = {"passing", "boilerplate"}


def marked(text: str, spans: list[tuple[int, int, str]]) -> SafeString:
    """``text`` escaped, with each ``(start, end, code)`` span inside ``<mark>`` (overlaps merged, first code wins)."""
    out, at = [], 0
    for start, end, code in sorted(spans):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        out.append(escape(text[at:start]))
        out.append(f'<mark class="review-{escape(code)}">{escape(text[start:end])}</mark>')
        at = end
    out.append(escape(text[at:]))
    return mark_safe("".join(out))


def view(review: ReplyReview | None, ticket: Ticket) -> dict | None:
    if review is None:
        return None
    result = review.result or {}
    found = {e["key"]: e["found"] for e in result.get("elements", [])}
    findings = [f for f in result.get("findings", []) if not f["code"].startswith("missing_") or f["code"] == "missing_place"]
    spans = [(s, e, f["code"]) for f in findings if f["code"] in _MARKED for s, e in f.get("spans", [])]
    return {
        "relevance": review.relevance,
        "completeness": review.completeness,
        "flagged": review.flagged,
        "outcome": review.get_outcome_display(),
        "version": review.version,
        "elements": [{"key": e.key, "label": _(e.label), "missing": _(e.missing), "found": found.get(e.key, False)} for e in ELEMENTS],
        "findings": findings,
        "marked_reply": marked(ticket.reply_text, spans) if spans else None,
    }
