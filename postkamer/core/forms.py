from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postkamer.accounts.models import User
from postkamer.mailboxes.access import readable_mailboxes


class MySettingsForm(forms.ModelForm):
    """Mijn instellingen: the account's own fields plus the default mailbox, chosen
    among the mailboxes the user may read."""

    class Meta:
        model = User
        fields = ["name", "language", "default_mailbox"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_mailbox"].queryset = readable_mailboxes(self.instance)
        self.fields["default_mailbox"].empty_label = _("(none)")
