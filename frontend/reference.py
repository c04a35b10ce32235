"""Reference trees for the console's pickers: categories and areas as nested lists."""

from __future__ import annotations

from routing.models import Area, Category


def _tree(rows) -> list[dict]:
    nodes = {pk: {"id": pk, "name": name, "children": []} for pk, name, _parent in rows}
    roots = []
    for pk, _name, parent in rows:
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[pk])
    return roots


def category_tree() -> list[dict]:
    """诉求分类: ``[{"id", "name", "children": [...]}]``, in path order."""
    return _tree(list(Category.objects.order_by("path").values_list("pk", "name", "parent_id")))


def area_tree() -> list[dict]:
    """Districts › streets › grids (the city itself is left out: every ticket is in it)."""
    rows = list(Area.objects.exclude(kind=Area.Kind.CITY).order_by("path").values_list("pk", "name", "parent_id"))
    return _tree(rows)
