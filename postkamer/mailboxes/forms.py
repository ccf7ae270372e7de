from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from postkamer.mailboxes.folders import JUNK, SENT, FolderListing
from postkamer.mailboxes.models import INTERVAL_VALUES, SETTINGS_FIELDS, Mailbox
from postkamer.mailboxes.validation import SECRET_FIELDS, mailbox_errors

_KEEP = _(
    "Leave empty to keep the current password; enter it again when you change the "
    "server, port, security or user name."
)


class MailboxForm(forms.ModelForm):
    interval = forms.TypedChoiceField(
        label=_("Interval"),
        choices=[("", _("none"))] + [(str(m), _("every %d minutes") % m) for m in INTERVAL_VALUES],
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("With 'none', mail comes in only with the fetch button in the e-mail module."),
    )
    imap_password = forms.CharField(
        label=_("IMAP password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    smtp_password = forms.CharField(
        label=_("SMTP password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Empty: the IMAP password is used."),
    )
    # Declared here rather than in Meta, so the admin (which swaps date fields for
    # its split widget) shows the same field.
    sync_since = forms.DateTimeField(
        label=capfirst(_("synchronisation date")),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Mail that arrived on the server from this moment on is fetched."),
    )

    class Meta:
        model = Mailbox
        fields = [f for f in SETTINGS_FIELDS if f != "interval_minutes"]
        help_texts = {
            "max_errors": _("After this many failed fetches in a row the interval becomes 'none'."),
            "smtp_username": _("Empty: the IMAP user name is used."),
            "microsoft_tenant": _(
                "The tenant ID or a domain of the tenant (like kantoor.onmicrosoft.com). "
                "Needed for app-only access; empty lets any work account sign in."
            ),
            "microsoft_auth": _(
                "Changing this, the tenant, the type or the sender address removes the "
                "connection: connect again afterwards."
            ),
        }

    def __init__(
        self,
        *args: Any,
        tenant_id: int | None = None,
        folder_listing: FolderListing | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.tenant_id = tenant_id if tenant_id is not None else self.instance.tenant_id
        if folder_listing is not None and folder_listing.ok:
            self._offer_server_folders(folder_listing)
        if self.instance.pk:
            self.initial["interval"] = (
                str(self.instance.interval_minutes) if self.instance.interval_minutes else ""
            )
            if self.instance.has_imap_password:
                self.fields["imap_password"].help_text = _KEEP
            if self.instance.smtp_password_enc:
                self.fields["smtp_password"].help_text = _KEEP
            # The synchronisation date changes only through "repair synchronisation".
            self.fields["sync_since"].disabled = True
        else:
            self.initial.setdefault("sync_since", timezone.localtime().replace(second=0))
            self.initial.setdefault("interval", "5")
        # Only Office 365 mailboxes show it: a form without it keeps what is stored.
        if "microsoft_auth" in self.fields:
            self.fields["microsoft_auth"].required = False
        for name in ("imap_host", "imap_username", "smtp_host"):
            self.fields[name].widget.attrs["autocomplete"] = "off"

    def _offer_server_folders(self, listing: FolderListing) -> None:
        """Turn the sent/junk fields into choices of the server's folders, preselecting
        the ones flagged \\Sent and \\Junk (RFC 6154) where nothing is chosen yet."""
        names = listing.selectable_names
        for name, flag in (("sent_folder", SENT), ("junk_folder", JUNK)):
            current = self.initial.get(name) or ""
            choices = [("", _("(none)"))] + [(n, n) for n in names]
            if current and current not in names:
                # Kept as an option so saving the page does not silently drop it.
                choices.append(
                    (current, _("%(folder)s (no longer on the server)") % {"folder": current})
                )
            self.fields[name].widget = forms.Select(choices=choices)
            if not current:
                self.initial[name] = listing.suggested(flag) or ""

    def settings(self) -> dict[str, Any]:
        """The cleaned settings under their model names, plus the passwords ("" keeps
        the stored one), for ``actions.do_create_mailbox``/``do_update_mailbox``.
        Fields shown read-only (the synchronisation date of a saved mailbox) are left out.
        """
        data = self.cleaned_data
        values = {
            name: data[name]
            for name in SETTINGS_FIELDS
            if name in data and name in self.fields and not self.fields[name].disabled
        }
        if not values.get("microsoft_auth"):
            values.pop("microsoft_auth", None)
        if "interval" in data:
            values["interval_minutes"] = data["interval"]
        for name in SECRET_FIELDS:
            values[name] = data.get(name) or ""
        return values

    def tenant_for_check(self) -> int | None:
        return self.tenant_id

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant_id = self.tenant_for_check()
        if tenant_id is None:
            return cleaned  # the tenant field has its own message
        instance = self.instance if self.instance.pk else None
        errors = mailbox_errors(self.settings(), tenant_id=tenant_id, instance=instance)
        for field, messages in errors.items():
            target = "interval" if field == "interval_minutes" else field
            if target in self.errors:
                continue  # the field's own message already says what is wrong
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
        return cleaned

    def show_errors(self, error: ValidationError) -> None:
        """Show what an action refused (a dict of field messages) on this form."""
        for field, messages in error.message_dict.items():
            target = "interval" if field == "interval_minutes" else field
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
