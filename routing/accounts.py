"""Sign-in protection: a lockout after repeated failures, shared by the API and the login page.

Counters live in the cache (Redis in production), so every process sees them.

Each attempt is counted *before* its password is checked (one atomic
``INCR``), and a success takes its count back by clearing it. So a burst of
parallel guesses on one account is checked at most ``LOGIN_FAILURE_LIMIT``
times, like the same guesses one after the other: counting a failure after
the check let every request of the burst read "not locked yet".
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache


class AccountLocked(Exception):
    """Too many failed attempts on this account: refused without checking the password."""


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


def sign_in(request, username: str, password: str):
    """The user whose password this is, or None; ``AccountLocked`` once the account has used its attempts.

    The one sign-in rule of the token endpoint and the login page.
    """
    if record_failure(username) > settings.LOGIN_FAILURE_LIMIT:
        raise AccountLocked
    user = authenticate(request, username=username, password=password)
    if user is not None:
        clear_failures(username)
    return user


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
