"""Services and their definitions, read from the category tree.

Every level-3 category (a leaf of 大类 › 小类 › 细类) is one service:
``service_code`` is ``Category.code``, ``group`` the level-1 name, the
keywords the names on its path. Every service has the same two attributes,
which map onto the ticket: ``urgency`` (紧急程度) and ``request_type`` (诉求类型).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from routing.models import Category
from routing.states import TicketType, Urgency

SERVICE_LEVEL = 3


@dataclass(frozen=True)
class Attribute:
    code: str
    description: str
    choices: list[tuple[str, str]]
    order: int
    required: bool = False
    datatype: str = "singlevaluelist"

    def keys(self) -> set[str]:
        return {key for key, _name in self.choices}

    def as_open311(self) -> dict:
        return {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": " / ".join(f"{key}={name}" for key, name in self.choices),
            "order": self.order,
            "description": self.description,
            "values": [{"key": key, "name": name} for key, name in self.choices],
        }


def attributes() -> list[Attribute]:
    """The attributes every service takes (translated at call time)."""
    return [
        Attribute("urgency", _("紧急程度"), [(str(v), str(label)) for v, label in Urgency.choices], order=1),
        Attribute("request_type", _("诉求类型"), [(str(v), str(label)) for v, label in TicketType.choices], order=2),
    ]


def _names() -> dict[int, str]:
    return dict(Category.objects.values_list("pk", "name"))


def _service(category: Category, names: dict[int, str]) -> dict:
    path_names = [names[pk] for pk in category.ancestor_ids() if pk in names]
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": " › ".join(path_names),
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(reversed(path_names)),
        "group": path_names[0] if path_names else None,
    }


def service_categories():
    return Category.objects.filter(level=SERVICE_LEVEL)


def service_list() -> list[dict]:
    """GET services: every level-3 category, in tree order (two queries)."""
    names = _names()
    # The path is text ("/12/9/"), so sort by its numbers, not its characters.
    categories = sorted(service_categories(), key=lambda c: c.ancestor_ids())
    return [_service(c, names) for c in categories]


def find_service(code: str) -> Category | None:
    return service_categories().filter(code=code).first() if code else None


def definition(category: Category) -> dict:
    """GET services/{code}: the attributes of one service."""
    return {"service_code": category.code, "attributes": [a.as_open311() for a in attributes()]}
