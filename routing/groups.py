"""Names of the channel-layer groups that live updates are pushed to."""

from __future__ import annotations


def department(department_id: int) -> str:
    return f"department.{department_id}"


def user(user_id: int) -> str:
    return f"user.{user_id}"


def role(role_name: str) -> str:
    return f"role.{role_name}"


def ticket(number: str) -> str:
    return f"ticket.{number}"


def for_user(staff) -> list[str]:
    """Every group a signed-in staff user listens to."""
    groups = [user(staff.pk)]
    if getattr(staff, "role", ""):
        groups.append(role(staff.role))
    if getattr(staff, "department_id", None):
        groups.append(department(staff.department_id))
    return groups
