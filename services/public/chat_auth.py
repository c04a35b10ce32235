"""Signed, short-lived tokens that let a staff client open the agent chat socket without a cookie.

Browsers use their session cookie; other clients (a CTI desktop, the
two-process test) ask GET /chat/agent/token/ once logged in, or get a token
minted by the server for a known user. A token names the user and carries
part of their session hash, so changing the password kills it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing

SALT = "services.public.agent-chat-socket"
MAX_AGE_SECONDS = 5 * 60


def issue_token(user) -> str:
    """A token for ``user`` valid for five minutes."""
    return signing.dumps({"u": user.pk, "h": user.get_session_auth_hash()[:20]}, salt=SALT)


def user_for_token(token: str):
    """The active user a fresh, intact token was issued for, or None."""
    try:
        data = signing.loads(token or "", salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None or user.get_session_auth_hash()[:20] != data.get("h"):
        return None
    return user
