"""Building documents in worker processes during a bulk rebuild.

Segmenting Chinese with jieba is pure-Python CPU work and holds the GIL, so
one process cannot both segment and keep the search backend busy. With
``workers > 1`` the records, read from the database in this thread, are
handed in batches to forked processes that return the finished documents,
in order. Workers never touch the database or the network (the database
stays in the calling thread: Django connections are per thread).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from knowledge import vocabulary

BATCH = 500


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _build_batch(build: Callable, batch: list) -> list:
    return [(record.id, build(record)) for record in batch]


def built(build: Callable, records: Iterable, *, workers: int = 1, batch: int = BATCH) -> Iterator[tuple[int, object]]:
    """``(record.id, build(record))`` for every record, in order, built by ``workers`` processes."""
    if workers <= 1:
        for record in records:
            yield record.id, build(record)
        return
    vocabulary.tokenizer()  # load jieba once, before forking: every worker inherits it
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        pending: deque = deque()
        # Keep every worker busy plus one batch queued each; read the next batch here, in this thread.
        for chunk in _batches(records, batch):
            pending.append(pool.apply_async(_build_batch, (build, chunk)))
            while len(pending) > 2 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
