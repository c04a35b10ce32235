"""The picture and the table of the machine in docs/ and the README are generated from the code: keep them current."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.core.management import call_command

from routing.management.commands.transition_table import markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_state_diagram_is_current():
    out = StringIO()
    call_command("graph_transitions", "routing.Ticket", "-e", "urge,supervise", stdout=out)
    # graph_transitions walks sets, so its line order varies between runs; the lines must not.
    def lines(text: str) -> list[str]:
        return sorted(line for line in text.splitlines() if line.strip())

    assert lines((ROOT / "docs" / "state-machine.dot").read_text(encoding="utf-8")) == lines(out.getvalue()), (
        "regenerate: python manage.py graph_transitions routing.Ticket -e urge,supervise > docs/state-machine.dot "
        "(and -o docs/state-machine.svg)"
    )


def test_readme_permission_table_is_current():
    from django.utils import translation

    with translation.override("en"):
        table = markdown_table()
    assert table in (ROOT / "README.md").read_text(encoding="utf-8"), "paste `python manage.py transition_table` into README.md"
