"""Template helpers of the hotline pages."""

from __future__ import annotations

from django import template

from frontend.navigation import workspaces_for
from routing.phones import text_for

register = template.Library()


@register.simple_tag(takes_context=True)
def workspace_links(context):
    """(url, label) of the signed-in user's workspaces."""
    request = context.get("request")
    return workspaces_for(request.user) if request is not None else []


@register.filter
def citizen_text(text, user):
    """``{{ t.description|citizen_text:user }}``: phone numbers in it masked unless ``user`` sees the contact."""
    return text_for(user, text)


@register.filter
def percent(value):
    """0.953 → '95.3%'; None (nothing to count) → '—'."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"
