"""``manage.py load_demo``: the demo city of the README, loaded idempotently."""

from __future__ import annotations

from importlib import import_module

from django.core.management.base import BaseCommand

# Each room that has demo data offers ``<room>.demo.load()``; the project wires them here.
DEMO_MODULES = ["routing.demo", "knowledge.demo", "services.public.demo"]


class Command(BaseCommand):
    help = "Load the demo city (示范市), its staff logins and sample tickets; running it twice changes nothing."

    def handle(self, *args, **options):
        for name in DEMO_MODULES:
            module = import_module(name)
            result = module.load()
            self.stdout.write(f"{name}: {result}")
        from routing import outbox

        stats = outbox.drain(max_rounds=1000)  # everything due now; what waits for a retry is the worker's
        self.stdout.write(f"outbox: {stats}")
