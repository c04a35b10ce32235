"""``manage.py run_worker``: deliver the outbox and run the deadline sweep, until stopped."""

from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from routing import outbox, periodic


class Command(BaseCommand):
    help = "Deliver outbox messages (SMS, live updates, search index) with retries, and give yellow/red cards."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="deliver what is due and sweep once, then exit")
        parser.add_argument("--batch", type=int, default=50)

    def handle(self, *args, once: bool, batch: int, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        worker = outbox.worker_name()
        self.stdout.write(f"worker {worker} started")
        while not self.stopping:
            close_old_connections()
            for name, result in periodic.run_due(force=once).items():
                if result:
                    self.stdout.write(f"{name}: {result}")
            try:
                stats = outbox.run_once(worker=worker, limit=batch)
            except Exception as exc:  # the database may be briefly away; keep the worker alive
                self.stderr.write(f"outbox round failed: {exc}")
                time.sleep(settings.WORKER_POLL_SECONDS)
                continue
            if stats.delivered or stats.retried or stats.failed or stats.skipped:
                self.stdout.write(f"outbox: {stats.delivered} delivered, {stats.retried} to retry, {stats.failed} failed, {stats.skipped} skipped")
            if once:
                break
            if not (stats.delivered or stats.retried):
                time.sleep(settings.WORKER_POLL_SECONDS)
        self.stdout.write(f"worker {worker} stopped")

    def _stop(self, *_args):
        self.stopping = True
