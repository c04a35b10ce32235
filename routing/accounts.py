"""Sign-in protection: a lockout after repeated failures, shared by the API and the login page.

Counters live in the cache (Redis in production), so every process sees them.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def is_locked(username: str) -> bool:
    return (cache.get(_key(username)) or 0) >= settings.LOGIN_FAILURE_LIMIT


def record_failure(username: str) -> int:
    key = _key(username)
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def clear_failures(username: str) -> None:
    cache.delete(_key(username))


def address_allowed(address: str) -> bool:
    """Count one sign-in attempt from ``address``; False once it made too many in the window.

    The lockout above is per account; this stops one address trying a few passwords on every account.
    """
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    key = f"login-attempts:{digest}"
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        attempts = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        attempts = 1
    return attempts <= settings.LOGIN_ADDRESS_LIMIT
