"""考核复核 on a ticket's page: its ratings and red cards left out of the KPIs or appealed, and the forms
of the next step — a supervisor leaves one out or decides an appeal; the department that was rated
unsatisfied or red-carded appeals (``routing.ratings``; the forms post to the API)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from routing import ratings
from routing.models import KpiAppeal, KpiSubject, Ticket
from routing.roles import Role


@dataclass
class ReviewForm:
    kind: str  # exclude, appeal, decide
    api: str
    label: str
    what: str
    subject: str = ""
    event: int | None = None
    appeal: KpiAppeal | None = None


_EXCLUDE_LABELS = {KpiSubject.RATING: gettext_lazy("评价不纳入考核"), KpiSubject.RED_CARD: gettext_lazy("红牌不纳入考核")}
_APPEAL_LABELS = {KpiSubject.RATING: gettext_lazy("对不满意评价申请复核"), KpiSubject.RED_CARD: gettext_lazy("对红牌申请复核")}


def view(ticket: Ticket, user) -> dict | None:
    """What the page shows of the ticket's assessment reviews for ``user``; None when there is nothing."""
    appeals, exclusions = ratings.for_ticket(ticket)
    forms: list[ReviewForm] = []
    role = getattr(user, "role", "")
    if role == Role.SUPERVISOR:
        api = reverse("api-ticket-kpi-exclusions", args=[ticket.number])
        for subject in KpiSubject:
            event = ratings.open_item(ticket, subject, appealable=False)
            if event is not None:
                forms.append(ReviewForm("exclude", api, str(_EXCLUDE_LABELS[subject]), ratings.describe(event), subject=subject, event=event.pk))
        for appeal in appeals:
            if appeal.outcome == KpiAppeal.Outcome.PENDING:
                label = _("复核申诉") + f" #{appeal.pk}"
                forms.append(ReviewForm("decide", reverse("api-appeal-decide", args=[appeal.pk]), label, ratings.describe(appeal.event), appeal=appeal))
    elif role == Role.DEPARTMENT and user.department_id:
        api = reverse("api-ticket-appeals", args=[ticket.number])
        for subject in KpiSubject:
            event = ratings.open_item(ticket, subject, appealable=True, department_id=user.department_id)
            if event is not None:
                forms.append(ReviewForm("appeal", api, str(_APPEAL_LABELS[subject]), ratings.describe(event), subject=subject, event=event.pk))
    if not (appeals or exclusions or forms):
        return None
    return {
        "appeals": [(a, ratings.describe(a.event)) for a in appeals],
        "exclusions": [(x, ratings.describe(x.event)) for x in exclusions],
        "forms": forms,
    }
