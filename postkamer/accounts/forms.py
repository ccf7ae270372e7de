from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from postkamer.accounts import throttle


class ThrottleMessageMixin:
    """Say "too many attempts" instead of "wrong password" when the throttle refused."""

    request: Any

    def get_invalid_login_error(self) -> forms.ValidationError:
        if throttle.was_refused(self.request):
            return forms.ValidationError(throttle.MESSAGE, code="throttled")
        return super().get_invalid_login_error()  # type: ignore[misc]


class LoginForm(ThrottleMessageMixin, auth_forms.AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True})
    )
    error_messages = {
        "invalid_login": _("This e-mail address and password do not match. Please try again."),
        "inactive": _("This account has been deactivated."),
    }


class AdminLoginForm(ThrottleMessageMixin, AdminAuthenticationForm):
    """The admin's login form (its password check is throttled by the backend)."""


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form, with the old password checked through the login throttle: a
    session left open must not become a way to guess the password."""

    def __init__(self, user: Any, *args: Any, request: Any = None, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    @sensitive_variables("old_password")
    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        try:
            correct = throttle.check_password(
                self.user.email,
                throttle.client_address(self.request),
                lambda: self.user.check_password(old_password),
            )
        except throttle.Throttled:
            raise forms.ValidationError(throttle.MESSAGE, code="throttled") from None
        if not correct:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
