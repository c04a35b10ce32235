"""Who acts on a ticket: staff roles, the citizen, and the system itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from routing.models import Citizen, Department, User


class Role(models.TextChoices):
    AGENT = "agent", _("话务员")
    DISPATCHER = "dispatcher", _("派单员")
    DEPARTMENT = "department", _("承办单位")
    SUPERVISOR = "supervisor", _("督办")
    CITIZEN = "citizen", _("诉求人")
    SYSTEM = "system", _("系统")


HOTLINE_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR})


def sees_contact(user) -> bool:
    """Hotline roles see the citizen's contact; department staff see it masked (a reveal is logged)."""
    return getattr(user, "role", "") in HOTLINE_ROLES


@dataclass(frozen=True)
class Actor:
    """The one who performs an action: a staff user, a citizen, or the system."""

    role: str
    user: "User | None" = None
    citizen: "Citizen | None" = None

    @property
    def department(self) -> "Department | None":
        return self.user.department if self.user is not None else None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return str(Role(self.role).label)


SYSTEM = Actor(role=Role.SYSTEM)


def as_actor(by: "User | Actor") -> Actor:
    """Accept a staff user or an Actor wherever a domain function takes ``by``."""
    if isinstance(by, Actor):
        return by
    if not getattr(by, "is_authenticated", False) or not getattr(by, "role", ""):
        return Actor(role="")  # an anonymous or role-less user may do nothing
    return Actor(role=by.role, user=by)


def citizen_actor(citizen: "Citizen | None") -> Actor:
    return Actor(role=Role.CITIZEN, citizen=citizen)
