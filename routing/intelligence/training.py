"""Gather what the classifier learns from: confirmed tickets and the shipped bootstrap messages."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone

from routing.intelligence import model as topic_model
from routing.intelligence import store
from routing.models import Category, ClassifierModel, IntelligencePolicy, Ticket, path_ids

log = logging.getLogger("routing.intelligence")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BOOTSTRAP_FILES = ("citizen_messages.jsonl", "citizen_messages_more.jsonl")
MAX_TICKETS = 100_000  # the most recent confirmed tickets: training time and memory stay bounded


def tree() -> tuple[list[topic_model.Leaf], dict[int, str], dict[str, int]]:
    """Leaves of the category tree with their topic, topic names, and topic name → id."""
    rows = list(Category.objects.values_list("pk", "name", "parent_id", "path", "level"))
    by_id = {pk: (name, parent) for pk, name, parent, _, _ in rows}
    parents = {parent for _, _, parent, _, _ in rows if parent}
    topics = {pk: name for pk, name, _, _, level in rows if level == 1}
    leaves = []
    for pk, name, _, path, level in rows:
        if pk in parents or level == 1:
            continue
        ids = path_ids(path)
        leaves.append(topic_model.Leaf(id=pk, topic=ids[0], names=tuple(by_id[i][0] for i in ids[1:] if i in by_id)))
    return leaves, topics, {name: pk for pk, name in topics.items()}


def confirmed_examples(limit: int = MAX_TICKETS) -> list[topic_model.Example]:
    rows = (
        Ticket.objects.filter(category_confirmed_at__isnull=False, category__isnull=False)
        .order_by("-category_confirmed_at")
        .values_list("title", "description", "category_id", "category__path", "category__level")[:limit]
    )
    examples = []
    for title, description, category_id, path, level in rows.iterator(chunk_size=2000):
        topic = path_ids(path)[0]
        examples.append(topic_model.Example(title, description, topic, category_id if level > 1 else None, "ticket"))
    return examples


def bootstrap_examples(topic_ids: dict[str, int]) -> tuple[list[topic_model.Example], int]:
    """The labelled real messages shipped in routing/fixtures; rows whose topic is not in the tree are skipped."""
    examples, skipped = [], 0
    for name in BOOTSTRAP_FILES:
        with open(FIXTURES / name, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                topic = topic_ids.get(row.get("category", ""))
                if topic is None:
                    skipped += 1
                    continue
                examples.append(topic_model.Example(row.get("subject", ""), row["text"], topic, None, "bootstrap"))
    return examples, skipped


def train(*, include_tickets: bool = True, progress: Callable[[str], None] = lambda m: None) -> ClassifierModel:
    """Train a new version from the database and the bootstrap, store it and make it active.

    Raises ``TrainingError`` (and changes nothing) when there is too little to learn from."""
    leaves, topic_names, topic_ids = tree()
    tickets = confirmed_examples() if include_tickets else []
    bootstrap, skipped = bootstrap_examples(topic_ids)
    progress(f"{len(tickets)} confirmed tickets, {len(bootstrap)} bootstrap messages" + (f" ({skipped} with a topic not in the tree skipped)" if skipped else ""))
    seen, examples = set(), []
    for example in tickets + bootstrap:  # a demo or imported ticket that repeats a bootstrap message counts once
        if example.key not in seen:
            seen.add(example.key)
            examples.append(example)
    fitted = topic_model.train(examples, leaves, topic_names, progress=progress)
    row = store.save(fitted, examples=len(examples), confirmed=len(tickets))
    progress(f"model {row.version} is active")
    return row


def retrain_if_due() -> str | None:
    """The worker's job: train when enough tickets were confirmed since the active model; a failure keeps it."""
    policy = IntelligencePolicy.current()
    latest = ClassifierModel.objects.filter(active=True).values_list("trained_at", flat=True).first()
    if latest is not None:
        if timezone.now() - latest < dt.timedelta(hours=policy.retrain_every_hours):
            return None
        fresh = Ticket.objects.filter(category_confirmed_at__gt=latest, category__isnull=False).count()
        if fresh < policy.retrain_min_new:
            return None
    try:
        row = train(progress=lambda m: log.info("retraining: %s", m))
    except Exception:
        log.exception("retraining the classifier failed; the previous model stays active")
        return None
    return row.version
