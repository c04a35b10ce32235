"""The English catalogue covers every Chinese string of the code.

The source language is Simplified Chinese; English comes from locale/en. A string
added to the code without its translation would show Chinese on an English page,
so this extracts the messages afresh (Django's makemessages, in a copy of the
sources) and fails on every Chinese msgid without an English msgstr.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "var", "node_modules", "staticfiles", "test-results", "__pycache__", ".pytest_cache"}
CJK = re.compile(r"[\u3400-\u9fff]")


def _copy_sources(target: Path) -> None:
    def ignore(directory, names):
        return [n for n in names if n in SKIP or n.endswith((".mo", ".pyc", ".png", ".svg", ".sqlite3"))]

    shutil.copytree(ROOT, target, ignore=ignore)


def _entries(po: str):
    """(msgid, msgstr, flags) of each entry of a .po text, strings joined."""
    for block in po.split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        flags = ""
        for line in block.splitlines():
            if line.startswith("#,"):
                flags = line
            elif line.startswith(("msgid ", "msgstr ", "msgid_plural ", "msgstr[0] ")):
                current, _, rest = line.partition(" ")
                fields[current] = rest.strip()[1:-1]
            elif line.startswith('"') and current:
                fields[current] += line.strip()[1:-1]
        if "msgid" in fields and fields["msgid"]:
            yield fields["msgid"], fields.get("msgstr", fields.get("msgstr[0]", "")), flags


@pytest.mark.timeout(180)
def test_every_chinese_string_has_an_english_translation(tmp_path):
    if not shutil.which("msgfmt"):
        pytest.fail("gettext is missing (make test installs it): sudo apt-get install -y gettext")
    copy = tmp_path / "src"
    _copy_sources(copy)
    env = {**os.environ, "DEBUG": "true"}
    for variable in ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"):
        env.pop(variable, None)
    for domain in ("django", "djangojs"):
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "en", "-d", domain, "-v0", "--ignore=var", "--ignore=frontend/node_modules"],
            cwd=copy, env=env, check=True, capture_output=True, timeout=150,
        )  # fmt: skip
    missing = []
    for po in sorted((copy / "locale" / "en" / "LC_MESSAGES").glob("*.po")):
        for msgid, msgstr, flags in _entries(po.read_text(encoding="utf-8")):
            if CJK.search(msgid) and (not msgstr or "fuzzy" in flags):
                missing.append(f"{po.name}: {msgid}")
    assert not missing, "Chinese strings without an English translation (makemessages -l en, then translate):\n" + "\n".join(missing)
