"""Suggestions while an agent types: the best articles, similar resolved tickets, the caller's earlier tickets.

Reads only: this module searches and never writes. Who sees which tickets
follows the ticket rules: the hotline roles see all, department staff see the
tickets their department leads, sub-dispatched or assists.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

import re

from knowledge import search
from knowledge.errors import NotAllowed
from knowledge.search import ArticleQuery, TicketQuery
from knowledge.search.query import TICKET_NUMBER, PHONE_LIKE
from routing import textsearch
from routing.models import phone_digest, normalize_phone
from routing.roles import HOTLINE_ROLES, Role

ARTICLES = 5
SIMILAR_TICKETS = 5
CALLER_TICKETS = 5
MAX_TEXT = 2000


def is_staff_user(user) -> bool:
    """A signed-in hotline or department user (the people the knowledge base is for)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.role in HOTLINE_ROLES or (user.role == Role.DEPARTMENT and user.department_id is not None) or user.is_superuser


def visible_department_ids(user) -> list[int] | None:
    """Departments whose tickets ``user`` may see; None means every ticket."""
    if not is_staff_user(user):
        raise NotAllowed(_("只有工作人员可以查询工单"), code="forbidden_role")
    if user.role in HOTLINE_ROLES or user.is_superuser:
        return None
    return [user.department_id]


def stale_before():
    """Articles reviewed before this moment are flagged stale (待复核)."""
    return timezone.now() - timedelta(days=settings.KNOWLEDGE_STALE_DAYS)


def check_phone_lookup(user, phone: str) -> None:
    """Finding tickets by the caller's number is for the hotline's roles only.

    Department staff see contacts masked; a number they could search by would
    let them guess the hidden digits (10⁴ tries), confidential tickets
    included. Their one way to a contact is the logged reveal on a ticket
    (``routing.actions.reveal_contact``: a reason, an event, never on a
    confidential ticket).
    """
    if phone and user.role not in HOTLINE_ROLES and not user.is_superuser:
        raise NotAllowed(
            _("按来电号码查询工单仅限话务员、派单员和督办；承办单位如需联系诉求人，请在工单上填写理由查看联系方式（留痕）。"),
            code="forbidden_role",
        )


def ticket_query_for(user, **fields) -> TicketQuery:
    """A ticket query limited to what ``user`` may see; ``phone`` is searched by its digest only, by the hotline's roles."""
    phone = fields.pop("phone", "") or ""
    check_phone_lookup(user, phone)
    digest = phone_digest(phone) if normalize_phone(phone) else ""
    return TicketQuery(phone_digest=digest, department_ids=visible_department_ids(user), **fields)


NUMBER_START = re.compile(r"^\d{8}-\d{0,5}$")  # the beginning of a ticket number: its day and a dash at least


def list_matches(user, text: str, *, states=None, category_id=None, limit: int, offset: int = 0, count_up_to: int = 0) -> textsearch.Found:
    """What the ticket list's ``q`` finds for ``user`` (registered as ``routing.textsearch``'s finder).

    A whole ticket number is looked up exactly, its beginning (``20261207-``) as a prefix; a phone
    number, for the hotline's roles, by its digest (department staff's digits are words, as any other
    text: they never reach the digest); anything else by words, every one of which, or a synonym,
    must be in the ticket's text, address or answer."""
    text = (text or "").strip()
    fields: dict = {}
    if TICKET_NUMBER.match(text):
        fields["number"] = text
    elif NUMBER_START.match(text):
        fields["number_prefix"] = text
    elif PHONE_LIKE.match(text) and normalize_phone(text) and (user.role in HOTLINE_ROLES or user.is_superuser):
        fields["phone_digest"] = phone_digest(text)
    else:
        fields["text"] = text
    query = TicketQuery(department_ids=visible_department_ids(user), states=states, category_id=category_id, every_word=True, newest_first=True, highlight=False, **fields)
    found = search.ticket_matches(query, limit=limit, offset=offset, count_up_to=count_up_to)
    return textsearch.Found(ids=found.ids, exact=found.exact, total=found.total)


def suggest(*, text: str, user, phone: str = "", exclude_number: str = "") -> dict:
    """What the agent console shows beside the description being typed.

    ``articles``: the best live, valid articles; ``similar_tickets``: resolved
    tickets about the same thing, with their answers; ``caller_tickets`` (when
    ``phone`` is given): the caller's earlier tickets, newest first.
    """
    department_ids = visible_department_ids(user)
    check_phone_lookup(user, phone)
    text = (text or "").strip()[:MAX_TEXT]
    result: dict = {"articles": [], "similar_tickets": []}
    if text:
        articles = search.search_articles(ArticleQuery(text=text[:500], size=ARTICLES))
        cutoff = stale_before()
        result["articles"] = [hit.as_dict(stale_before=cutoff) for hit in articles.results]
        similar = search.search_tickets(
            TicketQuery(text=text[:500], resolved_only=True, department_ids=department_ids, size=SIMILAR_TICKETS + 1)
        )
        result["similar_tickets"] = [hit.as_dict() for hit in similar.results if hit.number != exclude_number][:SIMILAR_TICKETS]
    if phone and normalize_phone(phone):
        caller = search.search_tickets(ticket_query_for(user, phone=phone, size=CALLER_TICKETS + 1))
        result["caller_tickets"] = [hit.as_dict() for hit in caller.results if hit.number != exclude_number][:CALLER_TICKETS]
    return result
