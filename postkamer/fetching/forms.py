"""The form of "Synchronisatie herstellen" on a mailbox's page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postkamer.fetching import repair


class RepairSyncForm(forms.Form):
    """Synchronisatie herstellen: a moment (Europe/Amsterdam) and an explicit "I agree"."""

    since = forms.DateTimeField(
        label=_("New synchronisation date and time"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_(
            "Every message on the server from this moment on that was never fetched "
            "before is fetched; it gets the moment of fetching as its received date."
        ),
    )
    confirm = forms.BooleanField(
        label=_("I agree"),
        error_messages={"required": _("Tick 'I agree' to repair the synchronisation.")},
    )

    def clean_since(self) -> Any:
        since = self.cleaned_data["since"]
        problem = repair.since_problem(since)
        if problem:
            raise forms.ValidationError(problem)
        return since
