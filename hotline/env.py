"""Strict parsing of configuration from the environment.

Every value may also come from a file named by ``<NAME>_FILE`` (for secrets
mounted by an orchestrator). A malformed value stops the start with a message
naming the variable, instead of a surprise later.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get(name: str, default: str | None = None) -> str | None:
    """The raw value of ``name``, or of the file named by ``name_FILE``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            with open(file_name, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc}") from exc
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def boolean(name: str, default: bool) -> bool:
    value = get(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true/false, got {value!r}")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def url(name: str, *, schemes: set[str]) -> str | None:
    """A URL with one of ``schemes`` and a host, or None when unset."""
    value = get(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name}: scheme must be one of {allowed}, got {value!r}")
    if parts.scheme not in {"sqlite"} and not parts.hostname:
        raise ImproperlyConfigured(f"{name}: no host in {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ImproperlyConfigured(f"{name}: malformed port in {value!r}") from None
    return value


def csv(name: str, default: list[str]) -> list[str]:
    value = get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]
