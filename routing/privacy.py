"""A citizen's personal data over time: retention (anonymisation) and one citizen's export.

DOMAIN.md: contact data is kept only as long as it serves the request. Once
every ticket of a citizen has been finished for ``settings.CITIZEN_RETENTION_DAYS``
(办结、不予受理、撤单、并单 all count), the citizen is anonymised: name and phone
blanked, the phone digest removed (a later call from the same number is a new
citizen), ``anonymized_at`` set. Tickets, their timelines and the KPIs stay as
they are: statistics need the ticket, not the person.

No ``TicketEvent`` is written: the timeline records how a request was handled,
and an anonymisation is about the person, not the request. The trace is the
citizen row's ``anonymized_at`` and one log line with counts (no personal data).

Other rooms keep copies of contact data (SMS rows, chat sessions, call records,
Open311 requests). They register a ``PersonalDataHolder`` from their
``AppConfig.ready()``, as they register outbox handlers, so that ``routing``
never imports them:

    from routing import privacy
    privacy.register_holder(privacy.PersonalDataHolder("telephony.sms", anonymize=..., export=...))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from routing import selectors
from routing.models import Citizen, Ticket, normalize_phone, phone_digest
from routing.states import State

log = logging.getLogger(__name__)


# --- who sees the citizen's contact: one rule, rendered by the API and the pages ------------------
@dataclass(frozen=True)
class Contact:
    """The citizen's contact as one user may see it; ``can_reveal`` offers the logged reveal."""

    name: str
    phone: str
    masked: bool
    confidential: bool
    anonymous: bool
    can_reveal: bool


def contact_for(user, ticket: Ticket) -> Contact:
    """The hotline's roles see the contact; department staff see it masked (a reveal is logged), or
    nothing when the citizen asked for confidentiality (a reveal then needs ``can_reveal_contact``)."""
    from routing.phones import mask_phone
    from routing.models import mask_name
    from routing.roles import sees_contact

    citizen = ticket.citizen
    if citizen is None:
        return Contact("", "", masked=False, confidential=ticket.confidential, anonymous=True, can_reveal=False)
    if sees_contact(user):
        return Contact(citizen.name, citizen.phone, masked=False, confidential=ticket.confidential, anonymous=ticket.anonymous, can_reveal=False)
    if ticket.confidential:
        return Contact("", "", masked=True, confidential=True, anonymous=ticket.anonymous, can_reveal=bool(getattr(user, "can_reveal_contact", False)))
    return Contact(mask_name(citizen.name), mask_phone(citizen.phone), masked=True, confidential=False, anonymous=ticket.anonymous, can_reveal=True)


@dataclass(frozen=True)
class PersonalDataHolder:
    """A room's copy of citizens' contact data, with how to anonymise and export it.

    ``anonymize(citizen)`` blanks what the room holds about ``citizen`` and
    returns how many rows it changed; ``export(citizen)`` returns JSON-ready
    records. Both are called with the citizen before it is blanked.
    """

    name: str
    anonymize: Callable[[Citizen], int]
    export: Callable[[Citizen], list[dict]]


_holders: dict[str, PersonalDataHolder] = {}


def register_holder(holder: PersonalDataHolder) -> None:
    """Include a room's copies of contact data in anonymisation and export; one holder per name."""
    existing = _holders.get(holder.name)
    if existing is not None and existing != holder:
        raise ValueError(f"personal data holder {holder.name!r} is already registered")
    _holders[holder.name] = holder


def unregister_holder(name: str) -> None:
    _holders.pop(name, None)


def holders() -> list[PersonalDataHolder]:
    return [_holders[name] for name in sorted(_holders)]


# --- retention ------------------------------------------------------------------
def retention_cutoff(*, now: datetime | None = None, days: int | None = None) -> datetime:
    """The moment before which a finished ticket no longer justifies keeping its citizen's contact."""
    days = settings.CITIZEN_RETENTION_DAYS if days is None else days
    return (now or timezone.now()) - timedelta(days=days)


def citizens_due(*, cutoff: datetime) -> QuerySet[Citizen]:
    """Citizens not yet anonymised whose every ticket finished before ``cutoff``.

    A citizen with any open ticket, or one finished after the cutoff, is kept.
    A citizen without tickets (a contact that never became one) is due once
    the citizen row itself is older than the cutoff.
    """
    recent_or_open = Ticket.objects.filter(citizen_id=OuterRef("pk")).filter(
        Q(state__in=State.open_states()) | Q(closed_at__isnull=True) | Q(closed_at__gte=cutoff)
    )
    any_ticket = Ticket.objects.filter(citizen_id=OuterRef("pk"))
    return (
        Citizen.objects.filter(anonymized_at__isnull=True)
        .filter(~Exists(recent_or_open))
        .filter(Exists(any_ticket) | Q(created_at__lt=cutoff))
        .order_by("pk")
    )


def anonymize_citizen(citizen: Citizen, *, at: datetime | None = None, cutoff: datetime | None = None) -> dict[str, int]:
    """Blank one citizen's name and phone everywhere they are kept; returns rows changed per holder.

    With ``cutoff``, the citizen is checked again under the row lock and left
    alone (``{}``) when no longer due, e.g. because they called again meanwhile.
    """
    at = at or timezone.now()
    changed: dict[str, int] = {}
    with transaction.atomic():
        locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
        if locked.anonymized_at is not None:
            return changed
        if cutoff is not None and not citizens_due(cutoff=cutoff).filter(pk=locked.pk).exists():
            return changed
        for holder in holders():
            changed[holder.name] = holder.anonymize(locked)
        Citizen.objects.filter(pk=locked.pk).update(name="", phone="", phone_digest=None, anonymized_at=at)
        changed["citizen"] = 1
    return changed


@dataclass
class RetentionReport:
    cutoff: datetime
    citizens: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


def anonymize_expired(*, days: int | None = None, now: datetime | None = None, dry_run: bool = False, batch_size: int = 500) -> RetentionReport:
    """Anonymise every citizen due under the retention period; one transaction per citizen.

    Safe to run again at any time (already anonymised citizens are skipped)
    and from a scheduler: a citizen who calls again meanwhile has an open
    ticket and is no longer due.
    """
    report = RetentionReport(cutoff=retention_cutoff(now=now, days=days), dry_run=dry_run)
    at = now or timezone.now()
    due = citizens_due(cutoff=report.cutoff)
    if dry_run:
        report.citizens = due.count()
        return report
    last_pk = 0
    while True:
        batch = list(due.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            break
        for citizen in batch:
            changed = anonymize_citizen(citizen, at=at, cutoff=report.cutoff)
            if not changed:
                continue
            for name, count in changed.items():
                report.rows[name] = report.rows.get(name, 0) + count
            report.citizens += 1
        last_pk = batch[-1].pk
    log.info("retention: %d citizens anonymised (cutoff %s)", report.citizens, report.cutoff.isoformat())
    return report


# --- export ---------------------------------------------------------------------
def find_citizen(phone: str) -> Citizen | None:
    """The citizen registered with ``phone``, looked up by its digest (the number is never queried)."""
    if not normalize_phone(phone):
        return None
    return Citizen.objects.filter(phone_digest=phone_digest(phone)).first()


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _ticket_record(ticket: Ticket) -> dict:
    return {
        "number": ticket.number,
        "channel": ticket.channel,
        "type": ticket.type,
        "category": ticket.category.name if ticket.category_id else None,
        "title": ticket.title,
        "description": ticket.description,
        "address": ticket.address,
        "lat": str(ticket.lat) if ticket.lat is not None else None,
        "lng": str(ticket.lng) if ticket.lng is not None else None,
        "anonymous": ticket.anonymous,
        "confidential": ticket.confidential,
        "state": ticket.state,
        "registered_at": _iso(ticket.registered_at),
        "closed_at": _iso(ticket.closed_at),
        "department": ticket.department.name if ticket.department_id else None,
        "reply": ticket.reply_text if ticket.state in {State.REPLY_APPROVED, State.RATED, State.CLOSED} else "",
        "resolution": ticket.resolution,
        "decline_reason": ticket.decline_reason,
        "satisfaction": ticket.satisfaction,
        "attachments": [
            {"name": a.original_name, "content_type": a.content_type, "size": a.size, "created_at": _iso(a.created_at)} for a in ticket.attachments.all()
        ],
        # The steps the citizen may see; internal notes are the authority's working papers.
        "timeline": [
            {"kind": e.kind, "to_state": e.to_state, "at": _iso(e.created_at), "department": e.department.name if e.department_id else None}
            for e in selectors.public_timeline(ticket)
        ],
    }


def export_citizen(phone: str) -> dict | None:
    """Everything kept about the citizen with ``phone`` (a data-subject request), or None when unknown."""
    citizen = find_citizen(phone)
    if citizen is None:
        return None
    tickets = Ticket.objects.filter(citizen=citizen).select_related("category", "department").prefetch_related("attachments").order_by("registered_at", "pk")
    export = {
        "exported_at": _iso(timezone.now()),
        "citizen": {"name": citizen.name, "phone": citizen.phone, "created_at": _iso(citizen.created_at), "anonymized_at": _iso(citizen.anonymized_at)},
        "tickets": [_ticket_record(t) for t in tickets],
    }
    for holder in holders():
        export[holder.name] = holder.export(citizen)
    log.info("privacy: export of citizen %s (%d tickets)", citizen.pk, len(export["tickets"]))
    return export
