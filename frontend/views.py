"""Pages: sign-in, the home page that sends each role to its workspace, and a ticket's own page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from frontend import assessment, cards, replyreview, timeline
from frontend.navigation import workspaces_for
from routing import accounts, actions, disputes, reviews, selectors
from routing.roles import HOTLINE_ROLES


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, refusing a locked-out account and counting failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("登录失败次数过多，账号已临时锁定，请稍后再试"),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password")
        if username and password:
            try:
                self.user_cache = accounts.sign_in(self.request, username, password)
            except accounts.AccountLocked:
                raise forms.ValidationError(self.error_messages["locked"], code="locked") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    authentication_form = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if not accounts.address_allowed(request.META.get("REMOTE_ADDR") or "unknown"):
            response = render(request, "frontend/login.html", {"form": self.get_form(), "too_many": True}, status=429)
            response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
            return response
        return super().post(request, *args, **kwargs)


def home(request):
    """The citizen portal's front door; signed-in staff also get the links to their workspaces."""
    return render(request, "frontend/home.html", {"workspaces": workspaces_for(request.user)})


@login_required
def ticket_detail(request, number: str):
    """工单详情: everything this user may see of one ticket, its timeline and the steps they may take (404 if not visible)."""
    if not getattr(request.user, "role", ""):
        raise PermissionDenied
    ticket = selectors.with_related(selectors.visible_tickets(request.user)).filter(number=number).first()
    if ticket is None:
        raise Http404
    events = cards.visible_events(ticket, request.user, selectors.timeline(ticket))
    ticket.pending_dispute = disputes.pending(ticket) if ticket.state == "return_requested" else None
    card = cards.Card(
        ticket=ticket,
        forms=cards.actionforms.forms_for(ticket, request.user),
        contact=cards.contact_for(ticket, request.user),
        timeline=timeline.rows(events, request.user),
    )
    context = {
        "card": card,
        "ticket": ticket,
        "duplicates": ticket.duplicates.all().order_by("registered_at"),
        "available": actions.available_transitions(ticket, request.user),
        "can_record_reference": request.user.role in HOTLINE_ROLES,
        "review": replyreview.view(reviews.current([ticket.pk]).get(ticket.pk), ticket) if ticket.reply_text else None,
        "assessment": assessment.view(ticket, request.user),
    }
    return render(request, "frontend/ticket.html", context)
