"""``manage.py serve``: daphne (HTTP + WebSocket), optionally with the outbox worker in the same process.

The zero-setup demo has no Redis, so its channel layer lives in one process:
a worker in another process could not reach the browsers' WebSockets. With
``--with-worker`` the worker's rounds run on daphne's own event loop, so live
updates reach them. Production runs ``manage.py run_worker`` processes and
several daphnes sharing Redis instead (deploy/README.md).
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from routing import outbox, periodic

log = logging.getLogger(__name__)


def _round(worker: str) -> bool:
    close_old_connections()
    periodic.run_due()
    stats = outbox.run_once(worker=worker)
    return bool(stats.delivered or stats.retried)


async def _worker_loop() -> None:
    worker = outbox.worker_name()
    log.info("in-process worker %s started", worker)
    while True:
        try:
            busy = await sync_to_async(_round, thread_sensitive=False)(worker)
        except Exception:  # keep serving; the next round retries
            log.exception("in-process worker round failed")
            busy = False
        if not busy:
            await asyncio.sleep(settings.WORKER_POLL_SECONDS)


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket with daphne; --with-worker also delivers the outbox in this process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--with-worker", action="store_true", help="run the outbox worker and the sweep on this process's event loop")

    def handle(self, *args, host: str, port: int, with_worker: bool, **options):
        from daphne.server import Server
        from daphne.endpoints import build_endpoint_description_strings

        from hotline.asgi import application

        tasks: list[asyncio.Task] = []

        def ready():
            if with_worker:
                tasks.append(asyncio.ensure_future(_worker_loop()))
            self.stdout.write(f"serving on http://{host}:{port}/" + (" with the worker in-process" if with_worker else ""))

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
            verbosity=0,
        ).run()
