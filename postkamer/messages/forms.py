"""The search box of the e-mail module: words, "has attachments" and a date range."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postkamer.messages import search
from postkamer.messages.models import Message


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Search this folder")}),
    )
    attachments = forms.BooleanField(label=_("Has attachments"), required=False)
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date lies before the start date."))
        return data

    @property
    def active(self) -> bool:
        """True when the form narrows the list (valid and something filled in)."""
        if not self.is_valid():
            return False
        data = self.cleaned_data
        return bool(data["q"].strip() or data["attachments"] or data["since"] or data["until"])

    def apply(self, messages: QuerySet[Message]) -> QuerySet[Message]:
        """``messages`` narrowed by the valid fields (an invalid form changes nothing)."""
        if not self.is_valid():
            return messages
        data = self.cleaned_data
        if data["q"].strip():
            messages = search.matching(messages, data["q"])
        if data["attachments"]:
            messages = messages.filter(has_attachments=True)
        # Whole days in the user's time zone, as bounds on the indexed column.
        if data["since"]:
            messages = messages.filter(received_at__gte=_start_of(data["since"]))
        if data["until"]:
            messages = messages.filter(
                received_at__lt=_start_of(data["until"] + dt.timedelta(days=1))
            )
        return messages


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
