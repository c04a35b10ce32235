"""Periodic jobs the worker runs besides the outbox: the deadline sweep, and what other rooms register.

Rooms register at start-up (``AppConfig.ready``), so ``routing`` never imports them:

    from routing import periodic
    periodic.register("chat.close_idle", close_idle, every_seconds=300)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    fn: Callable[[], object]
    every_seconds: int
    last_run: float = float("-inf")


_jobs: dict[str, Job] = {}


def register(name: str, fn: Callable[[], object], *, every_seconds: int) -> None:
    _jobs[name] = Job(name, fn, every_seconds)


def unregister(name: str) -> None:
    _jobs.pop(name, None)


def run_due(*, force: bool = False) -> dict[str, object]:
    """Run every job whose interval has passed; a failing job is logged and does not stop the others."""
    results: dict[str, object] = {}
    now = time.monotonic()
    for job in list(_jobs.values()):
        if not force and now - job.last_run < job.every_seconds:
            continue
        job.last_run = now
        try:
            results[job.name] = job.fn()
        except Exception as exc:  # one broken job must not stop the worker or the others
            log.exception("periodic job %s failed", job.name)
            results[job.name] = exc
    return results
