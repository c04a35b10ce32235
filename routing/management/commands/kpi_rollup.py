"""``manage.py kpi_rollup``: write the KPI roll-ups of every finished day now (the worker does it every KPI_ROLLUP_SECONDS)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from routing import kpis


class Command(BaseCommand):
    help = "Roll up the KPI counts of every finished day not rolled up yet (routing.kpis); --rebuild forgets the existing ones first."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="delete every roll-up first, e.g. after a change of definitions")
        parser.add_argument("--batch-days", type=int, default=62, help="days rolled up per round (each day is one transaction)")

    def handle(self, *args, rebuild: bool, batch_days: int, **options):
        if batch_days < 1:
            raise CommandError("--batch-days must be at least 1")
        if rebuild:
            self.stdout.write(f"forgot {kpis.forget_roll_ups()} rolled-up days")
        total = 0
        while rolled := kpis.roll_up(limit=batch_days):
            total += rolled
            self.stdout.write(f"rolled up {total} days …")
        self.stdout.write(f"{total} days rolled up")
