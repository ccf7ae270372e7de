from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from postkamer.accounts import throttle


def client_ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True})
    )
    error_messages = {
        "invalid_login": _("This e-mail address and password do not match. Please try again."),
        "inactive": _("This account has been deactivated."),
        "throttled": _(
            "Too many failed attempts. For your safety, please wait 15 minutes and try again."
        ),
    }

    def clean(self) -> dict[str, Any]:
        email = (self.cleaned_data.get("username") or "").lower()
        ip = client_ip(self.request)
        if email and throttle.is_locked(email, ip):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if email:
                throttle.record_failure(email, ip)
            raise
        throttle.clear(email)
        return cleaned

