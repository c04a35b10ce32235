"""``manage.py import_tickets FILE``: an old hotline's or 问政 platform's history (see ``routing.imports``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing import imports

SHOWN_REJECTIONS = 200


class Command(BaseCommand):
    help = "Import tickets from a CSV, TSV, XLSX or JSONL export (留言编号, 留言用户, 留言主题, 留言时间, 留言详情, 一级分类, 答复意见, 答复时间, 点赞数, or the project's field names)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--skip-invalid", action="store_true", help="write the valid rows even when some are rejected (default: write nothing then)")
        parser.add_argument("--dry-run", action="store_true", help="check every row and report, write nothing")
        parser.add_argument("--no-cluster", action="store_true", help="do not cluster the imported tickets into hot issues now (the worker will not either)")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        started = time.monotonic()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= 1:
                last[0] = now
                label = {"check": "checked", "write": "written", "cluster": "clustered"}[stage]
                suffix = f"/{total}" if total else ""
                self.stderr.write(f"  {label} {done}{suffix} rows ({now - started:.1f} s)")

        try:
            report = imports.import_file(path, skip_invalid=options["skip_invalid"], dry_run=options["dry_run"], cluster=not options["no_cluster"], progress=progress)
        except imports.ImportFileError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if report.unknown_columns:
            self.stderr.write(f"ignored columns: {', '.join(report.unknown_columns)}")
        for number, reason in report.rejected[:SHOWN_REJECTIONS]:
            self.stderr.write(f"row {number}: {reason}")
        if len(report.rejected) > SHOWN_REJECTIONS:
            self.stderr.write(f"... and {len(report.rejected) - SHOWN_REJECTIONS} more rejected rows")
        self.stdout.write(
            f"{path.name}: {report.rows} rows, {len(report.rejected)} rejected, {report.already} already imported, {report.imported} imported"
            + (f", {report.clustering.get('issues', 0)} hot issues touched" if report.clustering else "")
            + f" in {time.monotonic() - started:.1f} s"
        )
        if report.rejected and not report.written and not options["dry_run"]:
            self.stderr.write("nothing was written: fix the rows above, or pass --skip-invalid to import the valid ones")
            sys.exit(2)
