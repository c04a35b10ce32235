"""Template helpers for the agent chat panel, which the console includes without a view of ours."""

from django import template

from routing.states import TicketType

register = template.Library()


@register.simple_tag
def ticket_type_choices():
    """(value, label) of every ticket type, for the panel's register form."""
    return TicketType.choices
