"""Pages that combine the domain apps (accounts, mailboxes, ...), so the apps
themselves never have to import upwards."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from postkamer.accounts import tokens
from postkamer.core.forms import MySettingsForm


@login_required
def my_settings(request: HttpRequest) -> HttpResponse:
    form = MySettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings have been saved."))
        return redirect("my-settings")
    return render(
        request,
        "accounts/settings.html",
        {"form": form, "token_prefix": tokens.current_prefix(request.user)},
    )
