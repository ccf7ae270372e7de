"""The rules for mailbox settings, shared by the web form, the API, the admin and the
action functions (which check them again before they store anything).

``mailbox_errors`` returns every problem at once, so a form or request with three
mistakes hears about all three.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from postkamer.mailboxes.models import (
    INTERVAL_VALUES,
    SETTINGS_FIELDS,
    Mailbox,
    MailboxType,
    MicrosoftAuth,
    Security,
)
from postkamer.shared.validators import HeaderValue, has_control_characters

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
_IPV6_RE = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")
_GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

#: The write-only secrets; in ``changes`` a non-empty value is a new one, "" keeps.
SECRET_FIELDS = ("imap_password", "smtp_password")

#: Settings that end up in the headers of outgoing mail (From: "display name" <address>).
HEADER_FIELDS = ("name", "display_name", "sender_address")


def valid_host(host: str) -> bool:
    return bool(_HOST_RE.match(host) or (":" in host and _IPV6_RE.match(host)))


def valid_tenant(tenant: str) -> bool:
    """A Microsoft Entra ID tenant: its ID (a GUID) or one of its domains. The value
    becomes a segment of the sign-in URL, so nothing else may pass."""
    return bool(_GUID_RE.match(tenant) or ("." in tenant and valid_host(tenant)))


def merged(instance: Mailbox | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The settings after ``changes``: each field from ``changes``, else the stored
    value (or the model default for a new mailbox); the secrets as given ("" = keep)."""
    values: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        if name in changes:
            values[name] = changes[name]
        elif instance is not None:
            values[name] = getattr(instance, name)
        else:
            values[name] = Mailbox._meta.get_field(name).get_default()
    for name in SECRET_FIELDS:
        values[name] = changes.get(name) or ""
    return values


def _label(field: str) -> str:
    return str(Mailbox._meta.get_field(field).verbose_name)


def _text(value: Any) -> str:
    return str(value or "").strip()


def _imap_identity(v: Mapping[str, Any]) -> tuple[Any, ...]:
    return (_text(v["imap_host"]), v["imap_port"], v["imap_security"], _text(v["imap_username"]))


def _smtp_identity(v: Mapping[str, Any]) -> tuple[Any, ...]:
    # The user name SMTP logs in with: its own, or the IMAP one (docs/product.md, The mailbox).
    username = _text(v["smtp_username"]) or _text(v["imap_username"])
    return (_text(v["smtp_host"]), v["smtp_port"], v["smtp_security"], username)


def secret_rebinding_errors(
    instance: Mailbox | None, values: Mapping[str, Any]
) -> dict[str, list[str]]:
    """A stored password goes only where it was typed for.

    When the server, port, security or user name a stored password logs in with
    changes, the password must be typed again in the same change; otherwise a
    manager could point the mailbox at a server of their own and have Postkamer
    log in there with a password they never knew. SMTP logs in with the IMAP
    password when it has none of its own, so then an SMTP change needs either.
    (A stored OAuth2 grant follows the same idea the other way round: changing the
    type, the Microsoft access or tenant, or the sender address deletes it, see
    ``actions.do_update_mailbox``.)
    """
    if instance is None or instance.pk is None:
        return {}
    old = merged(instance, {})
    new_imap = bool(values.get("imap_password"))
    new_smtp = bool(values.get("smtp_password"))
    errors: dict[str, list[str]] = {}
    imap_moved = _imap_identity(values) != _imap_identity(old)
    if imap_moved and instance.imap_password_enc and not new_imap:
        errors["imap_password"] = [
            _(
                "You changed the IMAP server, port, security or user name: enter the IMAP "
                "password again. A stored password is only used for the server it was "
                "entered for."
            )
        ]
    if _smtp_identity(values) != _smtp_identity(old) and not new_smtp:
        if instance.smtp_password_enc:
            errors["smtp_password"] = [
                _(
                    "You changed the SMTP server, port, security or user name: enter the SMTP "
                    "password again. A stored password is only used for the server it was "
                    "entered for."
                )
            ]
        elif instance.imap_password_enc and not new_imap and "imap_password" not in errors:
            # SMTP uses the IMAP password; typing that one again is enough, and when
            # IMAP changed too the message above already asks for it.
            errors["smtp_password"] = [
                _(
                    "You changed the SMTP server, port, security or user name, and SMTP uses "
                    "the stored IMAP password: enter the SMTP password, or the IMAP password "
                    "again."
                )
            ]
    return errors


def mailbox_errors(
    changes: Mapping[str, Any], *, tenant_id: int, instance: Mailbox | None
) -> dict[str, list[str]]:
    """Return field name -> messages for ``changes`` to ``instance`` (None: a new
    mailbox of ``tenant_id``). ``changes`` may hold some settings or all of them,
    plus ``imap_password``/``smtp_password`` (new ones; "" or absent keeps)."""
    values = merged(instance, changes)
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    # The fields' own validators say this first; repeated for callers without them.
    for field in HEADER_FIELDS:
        if has_control_characters(str(values.get(field) or "")):
            add(field, HeaderValue.message(_label(field)))

    sender = _text(values.get("sender_address"))
    if sender:
        clash = Mailbox.objects.filter(tenant_id=tenant_id, sender_address__iexact=sender)
        if instance is not None and instance.pk:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            add("sender_address", _("There is already a mailbox with this sender address."))

    if instance is not None and instance.pk and values["sync_since"] != instance.sync_since:
        add(
            "sync_since",
            _(
                "The synchronisation date of an existing mailbox changes only with "
                "'repair synchronisation'."
            ),
        )

    interval = values.get("interval_minutes")
    if interval is not None and interval not in INTERVAL_VALUES:
        add(
            "interval_minutes",
            _("Choose an interval of none, 1, 5, 10, 15, 30 or 60 minutes."),
        )
    max_errors = values.get("max_errors")
    if max_errors is not None and not 1 <= int(max_errors) <= 100:
        add("max_errors", _("Enter a number of errors from 1 to 100."))

    # Whatever the type: a host changed while the mailbox is Office 365 would
    # otherwise receive the password once it is switched back to IMAP.
    for field, messages in secret_rebinding_errors(instance, values).items():
        errors.setdefault(field, []).extend(messages)

    mailbox_type = values.get("type")
    if mailbox_type not in MailboxType.values:
        add("type", _("Choose IMAP/SMTP, Office 365 or Google Workspace."))
        return errors
    if mailbox_type == MailboxType.OFFICE365:
        _microsoft_errors(values, add)
    elif mailbox_type == MailboxType.GMAIL and values.get("microsoft_auth") not in (
        None,
        "",
        MicrosoftAuth.DELEGATED,
    ):
        add(
            "microsoft_auth",
            _(
                "Google Workspace mailboxes are connected by signing in; app-only access is for Office 365."
            ),
        )
    if mailbox_type != MailboxType.IMAP:
        return errors

    for prefix, label in (("imap", "IMAP"), ("smtp", "SMTP")):
        host = _text(values.get(f"{prefix}_host"))
        if not host:
            add(f"{prefix}_host", _("Enter the %(server)s server.") % {"server": label})
        elif not valid_host(host):
            add(
                f"{prefix}_host",
                _("'%(host)s' is not a valid server name.") % {"host": host},
            )
        port = values.get(f"{prefix}_port")
        if port is None or not 1 <= int(port) <= 65535:
            add(f"{prefix}_port", _("Enter a port number from 1 to 65535."))
        if values.get(f"{prefix}_security") == Security.NONE and not values.get("allow_insecure"):
            add(
                f"{prefix}_security",
                _(
                    "An unencrypted connection is only allowed when you tick "
                    "'allow insecure connections (test only)'."
                ),
            )
    if not _text(values.get("imap_username")):
        add("imap_username", _("Enter the user name for the mail server."))
    if not values.get("imap_password") and not (
        instance is not None and instance.imap_password_enc
    ):
        add("imap_password", _("Enter the password for the mail server."))
    return errors


def _microsoft_errors(values: Mapping[str, Any], add: Any) -> None:
    how = values.get("microsoft_auth")
    if how not in MicrosoftAuth.values:
        add("microsoft_auth", _("Choose delegated (sign in) or application (app-only) access."))
    tenant = _text(values.get("microsoft_tenant"))
    if tenant and not valid_tenant(tenant):
        add(
            "microsoft_tenant",
            _(
                "'%(tenant)s' is not a Microsoft tenant: enter the tenant ID (like "
                "00000000-0000-0000-0000-000000000000) or a domain of the tenant (like "
                "kantoor.onmicrosoft.com)."
            )
            % {"tenant": tenant},
        )
    elif not tenant and how == MicrosoftAuth.APPLICATION:
        add(
            "microsoft_tenant",
            _("App-only access needs the tenant: enter the tenant ID or a domain of the tenant."),
        )
