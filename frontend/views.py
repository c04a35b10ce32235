"""Pages: sign-in and the home page that sends each role to its workspace."""

from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from routing import accounts


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, refusing a locked-out account and counting failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("登录失败次数过多，账号已临时锁定，请稍后再试"),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if username and accounts.is_locked(username):
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username:
                accounts.record_failure(username)
            raise
        accounts.clear_failures(username)
        return cleaned


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    authentication_form = LockoutAuthenticationForm
    redirect_authenticated_user = True


def home(request):
    return render(request, "frontend/home.html")
