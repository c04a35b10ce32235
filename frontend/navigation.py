"""The workspaces each role works in, for the navigation bar and the home page."""

from __future__ import annotations

from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.translation import gettext_lazy as _

from routing.roles import Role

WORKSPACES = [
    ("console", _("话务员工作台"), {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR}),
    ("dispatch", _("派单"), {Role.DISPATCHER, Role.SUPERVISOR}),
    ("department", _("承办单位"), {Role.DEPARTMENT}),
    ("supervisor", _("督办"), {Role.SUPERVISOR}),
    ("supervisor-wall", _("大屏"), {Role.SUPERVISOR}),
    ("ticket-search", _("工单查询"), {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.DEPARTMENT}),
]


def _knowledge_url() -> str | None:
    """The knowledge pages, when the knowledge room has mounted them at /knowledge/."""
    try:
        resolve("/knowledge/")
    except Resolver404:
        return None
    return "/knowledge/"


def workspaces_for(user) -> list[tuple[str, str]]:
    """(url, label) of every page this user works in, in the order of the loop."""
    role = getattr(user, "role", "") if getattr(user, "is_authenticated", False) else ""
    if not role:
        return []
    links = []
    for name, label, roles in WORKSPACES:
        if role in roles:
            try:
                links.append((reverse(name), str(label)))
            except NoReverseMatch:
                continue
    knowledge = _knowledge_url()
    if knowledge:
        links.append((knowledge, str(_("知识库"))))
    return links
