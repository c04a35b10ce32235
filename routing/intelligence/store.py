"""Versions of the classifier in the database, so every process serves the same one.

Each process keeps the active model in memory and asks the database, once per
``CHECK_SECONDS``, which version is active; a new version is loaded on the next
check. A model that cannot be loaded is logged once and not served (intake goes
on without proposals); the previous one stays active in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

from django.db import transaction
from django.utils import timezone

from routing.intelligence.model import TopicModel
from routing.models import ClassifierModel

log = logging.getLogger("routing.intelligence")

CHECK_SECONDS = 5.0


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.checked = float("-inf")
        self.row: tuple[int, str, dt.datetime, int] | None = None
        self.model: TopicModel | None = None
        self.failed: set[int] = set()
        self.warned_missing = False


_cache = _Cache()


def reset() -> None:
    """Forget what this process loaded (tests; after a deploy's migrate)."""
    with _cache.lock:
        _cache.reset()


def active() -> tuple[TopicModel, dict] | None:
    """The active model and its description (version, trained_at, examples), or None when there is none to serve."""
    now = time.monotonic()
    with _cache.lock:
        if now - _cache.checked >= CHECK_SECONDS:
            _cache.checked = now
            row = ClassifierModel.objects.filter(active=True).values_list("pk", "version", "trained_at", "examples").first()
            if row is None:
                _cache.row, _cache.model = None, None
                if not _cache.warned_missing:
                    log.warning("no classifier model is trained: tickets get no learned proposal (run manage.py train_classifier)")
                    _cache.warned_missing = True
            elif _cache.row is None or _cache.row[0] != row[0]:
                _cache.warned_missing = False
                _cache.row, _cache.model = row, _load(row)
        if _cache.model is None or _cache.row is None:
            return None
        pk, version, trained_at, examples = _cache.row
        return _cache.model, {"version": version, "trained_at": trained_at, "examples": examples}


def _load(row) -> TopicModel | None:
    pk, version = row[0], row[1]
    if pk in _cache.failed:
        return None
    try:
        blob = ClassifierModel.objects.values_list("artifact", flat=True).get(pk=pk)
        model = TopicModel.from_bytes(bytes(blob))
    except Exception as exc:  # a damaged artifact must never stop intake
        _cache.failed.add(pk)
        log.error("classifier model %s cannot be loaded, tickets get no learned proposal: %s", version, exc)
        return None
    log.info("classifier model %s loaded", version)
    return model


def save(model: TopicModel, *, examples: int, confirmed: int) -> ClassifierModel:
    """Store ``model`` as a new version and make it the active one, in one transaction."""
    now = timezone.now()
    version = f"{timezone.localtime(now):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    blob = model.to_bytes()
    TopicModel.from_bytes(blob)  # what is stored must load: never activate a model that cannot be served
    with transaction.atomic():
        ClassifierModel.objects.filter(active=True).update(active=False)
        row = ClassifierModel.objects.create(
            version=version, trained_at=now, examples=examples, confirmed_tickets=confirmed, metrics=model.metrics, artifact=blob, active=True
        )
    with _cache.lock:
        _cache.checked = float("-inf")  # this process serves it at once
    return row
