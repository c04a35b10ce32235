"""Front-end packages from the npm registry, served as static files.

``make assets`` runs ``npm ci`` in ``frontend/`` and leaves the packages in
``frontend/node_modules``; this finder exposes only the files the pages use,
as ``vendor/<path inside node_modules>``, so that ``collectstatic`` and the
server pick them up and nothing is ever loaded from a CDN.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Warning as CheckWarning
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"
# Files inside node_modules that pages load (nothing else is exposed).
VENDOR_FILES = (
    "chart.js/dist/chart.umd.min.js",
    "chart.js/dist/chart.umd.min.js.map",
)


def node_modules_dir() -> str:
    return str(getattr(settings, "NODE_MODULES_DIR", os.path.join(settings.BASE_DIR, "frontend", "node_modules")))


class VendorFinder(BaseFinder):
    """Finds ``vendor/...`` static files in ``frontend/node_modules`` (installed by ``npm ci``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.root = node_modules_dir()
        self.storage = FileSystemStorage(location=self.root)
        self.storage.prefix = PREFIX  # collectstatic copies node_modules/<path> to vendor/<path>

    def _present(self) -> list[str]:
        return [name for name in VENDOR_FILES if os.path.isfile(os.path.join(self.root, name))]

    def check(self, **kwargs):
        missing = sorted(set(VENDOR_FILES) - set(self._present()))
        if missing:
            return [
                CheckWarning(
                    f"front-end packages are not installed ({', '.join(missing)} missing); the KPI charts fall back to tables",
                    hint="run `make assets` (npm ci in frontend/)",
                    id="frontend.W001",
                )
            ]
        return []

    def find(self, path, find_all=False, **kwargs):
        name = path[len(PREFIX) + 1 :] if path.startswith(PREFIX + "/") else None
        full = os.path.join(self.root, name) if name in VENDOR_FILES else None
        if full is None or not os.path.isfile(full):
            return [] if find_all else None
        return [full] if find_all else full

    def list(self, ignore_patterns):
        for name in self._present():
            yield name, self.storage
