"""Intake intelligence: a learned proposal of category, type, area, urgency cues and department.

The public surface for the other rooms and the API:

* ``classify(text, title="")`` → ``Classification`` or None when no model can be served;
* ``propose(ticket)`` fills a new ticket's proposal fields before it is saved;
* ``training.train()`` / ``training.retrain_if_due()`` make new versions.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from routing import rules
from routing.intelligence import cues, store
from routing.models import Area, Category, Department, DispatchRule, Ticket

log = logging.getLogger("routing.intelligence")

TOP = 3
EXPLAIN_TERMS = 6
_AREA_SECONDS = 60.0


@dataclass
class ProposedCategory:
    category: Category
    path_names: list[str]
    score: float  # probability of its top-level topic
    leaf_score: float  # similarity of the message to this category within the topic


@dataclass
class Classification:
    categories: list[ProposedCategory]
    type: str
    area: Area | None
    department: Department | None
    rule: DispatchRule | None
    life_safety_cues: list[str]
    terms: list[str]
    model: dict = field(default_factory=dict)

    @property
    def best(self) -> ProposedCategory:
        return self.categories[0]

    def as_dict(self) -> dict:
        """The shape of ``POST /api/v1/classify/`` and of ``Ticket.proposal``."""
        return {
            "categories": [
                {"id": c.category.pk, "name": c.category.name, "path_names": c.path_names, "score": round(c.score, 4), "leaf_score": round(c.leaf_score, 4)}
                for c in self.categories
            ],
            "type": self.type,
            "area": {"id": self.area.pk, "name": self.area.name} if self.area else None,
            "department": {"id": self.department.pk, "code": self.department.code, "name": self.department.name} if self.department else None,
            "life_safety_cues": self.life_safety_cues,
            "terms": self.terms,
            "model": {"version": self.model["version"], "trained_at": self.model["trained_at"].isoformat(), "examples": self.model["examples"]},
        }


class _Areas:
    lock = threading.Lock()
    loaded = float("-inf")
    names: list[cues.AreaName] = []


def reset() -> None:
    """Forget this process's loaded model and place names (tests; after the area tree changed)."""
    store.reset()
    with _Areas.lock:
        _Areas.loaded = float("-inf")


def _gazetteer() -> list[cues.AreaName]:
    with _Areas.lock:
        if time.monotonic() - _Areas.loaded > _AREA_SECONDS:
            _Areas.names = cues.gazetteer(list(Area.objects.values_list("pk", "name", "level")))
            _Areas.loaded = time.monotonic()
        return _Areas.names


def classify(text: str, title: str = "", *, address: str = "", area: Area | None = None) -> Classification | None:
    """Propose for a message; None when no model is trained or the active one cannot be loaded."""
    served = store.active()
    if served is None:
        return None
    model, description = served
    prediction = model.predict(title, text, explain=EXPLAIN_TERMS)
    wanted: list[tuple[int, int, float, float]] = []  # (category id, topic, probability, leaf score)
    for topic, probability in prediction.topics[: TOP + 2]:
        leaf, leaf_score = prediction.leaves.get(topic, (topic, 0.0))
        wanted.append((leaf, topic, probability, leaf_score))
    nodes = Category.objects.in_bulk({c for c, *_ in wanted} | {t for _, t, *_ in wanted})
    in_paths = {pk for node in nodes.values() for pk in node.ancestor_ids()}
    names = dict(Category.objects.filter(pk__in=in_paths).values_list("pk", "name"))
    proposed = []
    for category_id, topic, probability, leaf_score in wanted:
        node = nodes.get(category_id) or nodes.get(topic)
        if node is None:  # the tree lost this node since training
            continue
        proposed.append(ProposedCategory(node, [names[pk] for pk in node.ancestor_ids() if pk in names], probability, leaf_score))
    if not proposed:
        return None
    proposed = proposed[:TOP]
    full = f"{title}\n{text}"
    if area is None:
        area_id = cues.find_area(f"{full}\n{address}", _gazetteer())
        area = Area.objects.filter(pk=area_id).first() if area_id else None
    probe = Ticket(category=proposed[0].category, area=area, title=title, description=text, address=address)
    routed = rules.propose(probe)
    return Classification(
        categories=proposed, type=cues.propose_type(full), area=area, department=routed.department if routed else None,
        rule=routed.rule if routed else None, life_safety_cues=cues.life_safety_cues(full), terms=prediction.terms, model=description,
    )  # fmt: skip


def propose(ticket: Ticket) -> Classification | None:
    """Fill the proposal fields of a new ticket registered without a category. Never raises: intake goes on."""
    try:
        result = classify(ticket.description, ticket.title, address=ticket.address, area=ticket.area)
    except Exception:
        log.exception("the classifier failed on a new ticket; it is registered without a learned proposal")
        return None
    if result is None:
        return None
    ticket.proposed_category = result.best.category
    ticket.proposal_score = round(result.best.score, 4)
    ticket.proposal_version = result.model["version"]
    ticket.proposal = result.as_dict()
    return result
