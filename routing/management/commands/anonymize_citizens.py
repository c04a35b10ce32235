"""``manage.py anonymize_citizens``: the retention rule for citizens' contact data (see routing.privacy)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing import privacy


class Command(BaseCommand):
    help = (
        "Anonymise citizens whose last ticket finished more than CITIZEN_RETENTION_DAYS ago: "
        "name and phone blanked, phone digest removed; tickets and statistics are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help=f"retention period in days (default: CITIZEN_RETENTION_DAYS = {settings.CITIZEN_RETENTION_DAYS})")
        parser.add_argument("--dry-run", action="store_true", help="only count the citizens that would be anonymised")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, days: int | None, dry_run: bool, batch_size: int, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        report = privacy.anonymize_expired(days=days, dry_run=dry_run, batch_size=batch_size)
        cutoff = report.cutoff.isoformat(timespec="seconds")
        if dry_run:
            self.stdout.write(f"{report.citizens} citizens would be anonymised (every ticket finished before {cutoff})")
            return
        rows = ", ".join(f"{name}: {count}" for name, count in sorted(report.rows.items())) or "none"
        self.stdout.write(f"{report.citizens} citizens anonymised (every ticket finished before {cutoff}); rows changed: {rows}")
