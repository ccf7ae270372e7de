from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postkamer.autoreply import actions
from postkamer.autoreply.models import MAX_INTERVAL_DAYS, ORIGINAL_SUBJECT, AutoReply

_MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]


def _moment_field(label: Any, help_text: Any) -> forms.DateTimeField:
    # datetime-local sends the wall-clock time; Django reads it in the site's
    # zone, Europe/Amsterdam, and shows it back in the same zone.
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=_MOMENT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=help_text,
    )


class AutoReplyForm(forms.Form):
    """The tab "Automatisch antwoord". Field names are the API's."""

    enabled = forms.BooleanField(label=_("Automatic reply on"), required=False)
    starts_at = _moment_field(_("Start"), _("Empty: from the moment you switch it on."))
    ends_at = _moment_field(_("End"), _("Empty: until you switch it off."))
    subject = forms.CharField(
        label=_("Subject"),
        required=False,
        max_length=255,
        help_text=_("%(placeholder)s is replaced by the subject of the message answered.")
        % {"placeholder": ORIGINAL_SUBJECT},
    )
    body_html = forms.CharField(
        label=_("Text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    interval_days = forms.IntegerField(
        label=_("Days between two replies to the same sender"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_INTERVAL_DAYS}),
        help_text=_("Each sender gets the reply at most once in this many days (at least 1)."),
    )

    def __init__(self, *args: Any, config: AutoReply, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.config = config
        if not self.is_bound:
            self.initial.update({field: getattr(config, field) for field in actions.FIELDS})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A field that could not be read is None here; its own error stands.
        values = {field: cleaned.get(field) for field in actions.FIELDS}
        if values["interval_days"] is None and "interval_days" not in self.errors:
            values["interval_days"] = 0  # left empty: the same message as too small
        for field, messages in actions.settings_errors(values).items():
            for message in messages:
                self.add_error(field, message)
        return cleaned

    def changes(self) -> dict[str, Any]:
        """The validated settings, ready for ``actions.do_save_auto_reply``."""
        return {field: self.cleaned_data.get(field) for field in actions.FIELDS}
