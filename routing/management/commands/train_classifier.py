"""``manage.py train_classifier``: train a new classifier version from confirmed tickets and the bootstrap messages."""

from __future__ import annotations

import re
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.intelligence import report, training
from routing.intelligence.model import TrainingError

BEGIN, END = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"


class Command(BaseCommand):
    help = (
        "Train the intake classifier from the tickets whose category staff confirmed plus the shipped bootstrap messages, "
        "evaluate it on a held-out split, store it as a new version and make it active (a failure keeps the previous one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bootstrap-only", action="store_true", help="leave the database's tickets out (reproducible figures)")
        parser.add_argument("--report", metavar="FILE.md", help="write the evaluation into FILE.md (between evaluation markers) and a confusion-matrix SVG beside it")

    def handle(self, *args, bootstrap_only: bool, report: str | None, **options):
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:6.1f}s] {message}")
            self.stdout.flush()

        try:
            row = training.train(include_tickets=not bootstrap_only, progress=progress)
        except TrainingError as exc:
            raise CommandError(f"{exc}; the previous model stays active") from exc
        m = row.metrics
        if "macro_f1" in m:
            self.stdout.write(f"held-out {m['held_out']}: accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  top-3 {m['top3_accuracy']:.3f}")
            width = max(len(c["name"]) for c in m["per_class"])
            for c in m["per_class"]:
                self.stdout.write(f"  {c['name']:<{width}}  P {c['precision']:.3f}  R {c['recall']:.3f}  F1 {c['f1']:.3f}  n {c['support']}")
            self.stdout.write("confusion (rows true, columns proposed): " + " | ".join(m["labels"]))
            for name, line in zip(m["labels"], m["confusion"]):
                self.stdout.write(f"  {name:<{width}} " + " ".join(f"{v:4d}" for v in line))
        if report:
            if "macro_f1" not in m:
                raise CommandError("no held-out evaluation to report")
            self._write_report(Path(report), row.version, m, bootstrap_only)
        self.stdout.write(self.style.SUCCESS(f"model {row.version} active ({row.examples} examples)"))

    def _write_report(self, path: Path, version: str, metrics: dict, bootstrap_only: bool) -> None:
        picture = path.with_name(path.stem.lower() + "-confusion.svg")
        picture.write_text(report.confusion_svg(metrics["labels"], metrics["confusion"]), encoding="utf-8")
        command = "DEBUG=true .venv/bin/python manage.py train_classifier" + (" --bootstrap-only" if bootstrap_only else "") + f" --report {path}"
        section = f"{BEGIN}\n{report.markdown(metrics, version=version, command=command, picture=picture.name)}{END}"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if BEGIN in text and END in text:
            text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text = (text.rstrip() + "\n\n" if text else "") + section + "\n"
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"wrote {path} and {picture}")
