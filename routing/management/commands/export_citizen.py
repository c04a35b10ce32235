"""``manage.py export_citizen --phone NUMBER``: one citizen's data as JSON, for a data-subject request."""

from __future__ import annotations

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from routing import privacy


class Command(BaseCommand):
    help = "Export everything kept about the citizen with this phone number as JSON (looked up by its digest)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--phone", required=True, help="the citizen's phone number; '-' reads it from standard input (keeps it out of the process list and shell history)"
        )
        parser.add_argument("--output", "-o", help="write to this file (created with mode 0600) instead of standard output")

    def handle(self, *args, phone: str, output: str | None, **options):
        if phone == "-":
            phone = sys.stdin.readline().strip()
        data = privacy.export_citizen(phone)
        if data is None:
            raise CommandError("no citizen is registered with this phone number")
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if output:
            # The file holds personal data: readable by its owner only.
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # also when the file existed before
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            self.stderr.write(f"{len(data['tickets'])} tickets written to {output}")
        else:
            self.stdout.write(text)
