"""Cross-field rules for mailbox settings, shared by the web form and the API."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from postkamer.mailboxes.models import INTERVAL_VALUES, Mailbox, MailboxType, Security

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
_IPV6_RE = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")


def valid_host(host: str) -> bool:
    return bool(_HOST_RE.match(host) or (":" in host and _IPV6_RE.match(host)))


def mailbox_errors(
    values: dict[str, Any], *, tenant_id: int, instance: Mailbox | None
) -> dict[str, list[str]]:
    """Return field name -> messages for ``values`` (the merged new state).

    ``values`` holds every settings field; ``imap_password`` holds the new password
    or "" when it is left unchanged.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    sender = (values.get("sender_address") or "").strip()
    if sender:
        clash = Mailbox.objects.filter(tenant_id=tenant_id, sender_address__iexact=sender)
        if instance is not None and instance.pk:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            add("sender_address", _("There is already a mailbox with this sender address."))

    interval = values.get("interval_minutes")
    if interval is not None and interval not in INTERVAL_VALUES:
        add(
            "interval_minutes",
            _("Choose an interval of none, 1, 5, 10, 15, 30 or 60 minutes."),
        )
    max_errors = values.get("max_errors")
    if max_errors is not None and not 1 <= int(max_errors) <= 100:
        add("max_errors", _("Enter a number of errors from 1 to 100."))

    if values.get("type") != MailboxType.IMAP:
        return errors

    for prefix, label in (("imap", "IMAP"), ("smtp", "SMTP")):
        host = (values.get(f"{prefix}_host") or "").strip()
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
    if not (values.get("imap_username") or "").strip():
        add("imap_username", _("Enter the user name for the mail server."))
    has_stored = instance is not None and instance.pk and instance.has_imap_password
    if not values.get("imap_password") and not has_stored:
        add("imap_password", _("Enter the password for the mail server."))
    return errors
