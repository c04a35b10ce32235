"""``manage.py search_reindex``: rebuild the search indices (articles, tickets) from the database in bulk.

Each index is filled anew with streaming bulk requests (Elasticsearch) or
batched transactions (embedded), then swapped in behind its alias in one
step: searches keep answering from the old index until then. Changes made
during the rebuild are indexed again right after the swap.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge import search
from knowledge.errors import SearchUnavailable


class Command(BaseCommand):
    help = "Rebuild the knowledge and ticket search indices from the database, swapping each in when full."

    def add_arguments(self, parser):
        parser.add_argument("--only", choices=search.KINDS, action="append", help="rebuild only this index (repeatable)")
        parser.add_argument("--chunk-size", type=int, default=None, help="documents per bulk request / transaction")
        parser.add_argument("--workers", type=int, default=1, help="processes that segment text (jieba) in parallel; 1 = in this process")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    def handle(self, *args, only=None, chunk_size=None, workers=1, no_progress=False, **options):
        kinds = tuple(only) if only else search.KINDS
        if chunk_size is not None and chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        bars: list[tqdm] = []
        stream = options.get("stderr") or sys.stderr  # the raw stream: tqdm redraws its line with \r

        def progress(kind: str, total: int):
            bar = tqdm(total=total, desc=kind, unit="doc", disable=no_progress, file=stream, dynamic_ncols=True)
            bars.append(bar)
            return bar.update

        self.stdout.write(f"search backend: {settings.SEARCH_BACKEND}")
        try:
            reports = search.rebuild(kinds, progress=progress, chunk_size=chunk_size, workers=workers)
        except SearchUnavailable as exc:
            raise CommandError(f"search backend unavailable: {exc}") from exc
        finally:
            for bar in bars:
                bar.close()
        for kind, report in reports.items():
            rate = report["indexed"] / report["seconds"] if report["seconds"] else 0.0
            self.stdout.write(
                f"{kind}: {report['indexed']} documents in {report['seconds']:.1f} s ({rate:.0f} docs/s) → {report['index']}"
                f"; {report['caught_up']} changed meanwhile, indexed again"
            )
