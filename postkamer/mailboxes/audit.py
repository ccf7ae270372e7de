"""The mailbox audit log: one function writes it, one describes an entry in plain words.

Every feature that changes a mailbox (settings, owners, repair sync, OAuth…) calls
``record``; nothing else creates ``MailboxAuditEntry`` rows.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from postkamer import crypto
from postkamer.accounts.models import User
from postkamer.mailboxes.models import SETTINGS_FIELDS, AuditAction, Mailbox, MailboxAuditEntry

# Keys whose *values* must never be stored, whatever a caller passes by mistake.
_SECRET_WORDS = ("password", "secret", "token", "_enc")


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if _is_secret(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def record(mailbox: Mailbox, actor: User | None, action: str, **detail: Any) -> MailboxAuditEntry:
    """Write one audit entry and return it.

    ``detail`` must be JSON-serialisable: names, IDs, lists of changed field names.
    Values under secret-looking keys are replaced by ``***`` as a last line of
    defence; callers pass field *names* ("imap_password"), never values.
    """
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    actor_obj = actor if actor is not None and actor.is_authenticated else None
    return MailboxAuditEntry.objects.create(
        tenant_id=mailbox.tenant_id,
        mailbox=mailbox,
        mailbox_ref=mailbox.pk,
        mailbox_name=mailbox.name,
        actor=actor_obj,
        actor_name=actor_obj.display_name if actor_obj else "",
        action=action,
        detail=_scrub(detail),
    )


# Settings whose change is logged. The encrypted columns are compared to notice a
# new password, but only the plain field name ever reaches the log.
# Model column -> the setting's name in the log (secret columns log their field name).
_WATCHED = {
    **{name: name for name in SETTINGS_FIELDS},
    "dkim_selector": "dkim_selector",
    "imap_password_enc": "imap_password",
    "smtp_password_enc": "smtp_password",
}


def _fingerprint(ciphertext: str) -> str:
    # Encryption is randomised, so a retyped identical password gives new
    # ciphertext; compare digests of the plaintext instead.
    if not ciphertext:
        return ""
    return hashlib.sha256(crypto.decrypt(ciphertext).encode()).hexdigest()


def settings_snapshot(mailbox: Mailbox) -> dict[str, Any]:
    """The watched settings of ``mailbox``, to compare before and after a save.

    Passwords appear as digests; keep the snapshot in memory only.
    """
    return {
        column: _fingerprint(getattr(mailbox, column))
        if column.endswith("_enc")
        else getattr(mailbox, column)
        for column in _WATCHED
    }


def record_settings_change(
    mailbox: Mailbox, actor: User | None, before: dict[str, Any]
) -> MailboxAuditEntry | None:
    """Log which settings changed since ``before`` (names only); None when nothing did."""
    after = settings_snapshot(mailbox)
    fields = sorted(_WATCHED[c] for c in _WATCHED if before.get(c) != after[c])
    if not fields:
        return None
    return record(mailbox, actor, AuditAction.SETTINGS_CHANGED, fields=fields)


def _field_label(name: str) -> str:
    labels = {
        "imap_password": _("IMAP password"),
        "smtp_password": _("SMTP password"),
        "interval_minutes": _("interval"),
    }
    if name in labels:
        return str(labels[name])
    try:
        return str(Mailbox._meta.get_field(name).verbose_name)
    except Exception:  # an old entry may name a field that no longer exists
        return name


def _auto_reply_fields(names: list[str]) -> str:
    labels = {
        "starts_at": _("start"),
        "ends_at": _("end"),
        "subject": _("subject"),
        "body_html": _("text"),
        "interval_days": _("days between two replies to the same sender"),
    }
    return ", ".join(str(labels.get(name, name)) for name in names)


def _describe_auto_reply(values: dict[str, Any], detail: dict[str, Any]) -> str:
    changed = list(detail.get("fields") or [])
    others = [name for name in changed if name != "enabled"]
    fields = _auto_reply_fields(others)
    if "enabled" in changed and detail.get("enabled"):
        if others:
            return _("%(who)s switched the automatic reply on and changed: %(fields)s.") % {
                **values,
                "fields": fields,
            }
        return _("%(who)s switched the automatic reply on.") % values
    if "enabled" in changed:
        if others:
            return _("%(who)s switched the automatic reply off and changed: %(fields)s.") % {
                **values,
                "fields": fields,
            }
        return _("%(who)s switched the automatic reply off.") % values
    if others:
        return _("%(who)s changed the automatic reply: %(fields)s.") % {**values, "fields": fields}
    return _("%(who)s saved the automatic reply without changes.") % values


def _template_label(name: str) -> str:
    labels = {
        "font_family": _("font"),
        "font_size": _("font size"),
        "font_color": _("font colour"),
        "signature_html": _("signature"),
    }
    return str(labels.get(name, name))


def _describe_oauth(action: str, values: dict[str, Any], detail: dict[str, Any]) -> str:
    titles = {"microsoft": "Microsoft", "google": "Google"}
    values = {
        **values,
        "provider": titles.get(str(detail.get("provider")), "Microsoft"),
        "account": detail.get("account") or "?",
    }
    if action == AuditAction.OAUTH_CONNECTED:
        if detail.get("account"):
            return _("%(who)s connected the mailbox with %(provider)s as %(account)s.") % values
        return _("%(who)s connected the mailbox with %(provider)s.") % values
    if action == AuditAction.OAUTH_EXPIRED:
        return (
            _(
                "The connection with %(provider)s expired (the sign-in was withdrawn or "
                "ran out): it must be connected again."
            )
            % values
        )
    if detail.get("reason") == "settings":
        return (
            _(
                "The connection with %(provider)s (as %(account)s) was removed because the "
                "settings it was made for changed."
            )
            % values
        )
    return _("%(who)s removed the connection with %(provider)s (as %(account)s).") % values


def describe(entry: MailboxAuditEntry) -> str:
    """The entry as one plain sentence in the active language."""
    who = entry.actor_name or _("The system")
    d = entry.detail or {}
    values = {"who": who, "user": d.get("user_name", "?"), "group": d.get("group_name", "?")}
    action = entry.action
    if action == AuditAction.CREATED:
        return _("%(who)s created the mailbox.") % values
    if action == AuditAction.SETTINGS_CHANGED:
        fields = ", ".join(_field_label(f) for f in d.get("fields", []))
        return _("%(who)s changed the settings: %(fields)s.") % {**values, "fields": fields}
    if action == AuditAction.OWNER_ADDED:
        return _("%(who)s added %(user)s as an owner.") % values
    if action == AuditAction.OWNER_REMOVED:
        return _("%(who)s removed %(user)s as an owner.") % values
    if action == AuditAction.GROUP_LINKED:
        return _("%(who)s linked the workflow group %(group)s.") % values
    if action == AuditAction.GROUP_UNLINKED:
        return _("%(who)s unlinked the workflow group %(group)s.") % values
    if action == AuditAction.SYNC_REPAIRED:
        since = parse_datetime(str(d.get("since") or ""))
        if since is None:
            return _("%(who)s repaired the synchronisation.") % values
        moment = formats.date_format(timezone.localtime(since), "DATETIME_FORMAT")
        return _("%(who)s repaired the synchronisation from %(since)s.") % {
            **values,
            "since": moment,
        }
    if action in (
        AuditAction.OAUTH_CONNECTED,
        AuditAction.OAUTH_DISCONNECTED,
        AuditAction.OAUTH_EXPIRED,
    ):
        return _describe_oauth(action, values, d)
    if action == AuditAction.DELETED:
        return _("%(who)s deleted the mailbox.") % values
    if action == AuditAction.TEMPLATE_CHANGED:
        fields = ", ".join(_template_label(f) for f in d.get("fields", []))
        return _("%(who)s changed the template: %(fields)s.") % {**values, "fields": fields}
    if action == AuditAction.AUTO_DISABLED:
        if d.get("errors"):
            return _("Automatic fetching was switched off after %(count)s failed attempts.") % {
                "count": d["errors"]
            }
        return _("Automatic fetching was switched off after repeated errors.")
    if action == AuditAction.AUTO_REPLY_CHANGED:
        return _describe_auto_reply(values, d)
    if action == AuditAction.AUTO_REPLY_FAILED:
        return _("The automatic reply to %(to)s could not be sent.") % {"to": d.get("to") or "?"}
    return f"{who}: {entry.get_action_display()}"


# -- the log of deleted mailboxes ------------------------------------------------


def deleted_mailboxes(tenant_id: int) -> QuerySet[MailboxAuditEntry]:
    """The "deleted" entries of ``tenant_id``'s deleted mailboxes, newest first: one per
    mailbox, with ``mailbox_ref``, ``mailbox_name``, who (``actor_name``) and when."""
    return MailboxAuditEntry.objects.filter(
        tenant_id=tenant_id, action=AuditAction.DELETED, mailbox__isnull=True
    )


def deleted_mailbox_log(tenant_id: int, ref: object) -> QuerySet[MailboxAuditEntry] | None:
    """Every entry of the deleted mailbox that had the ID ``ref``, newest first; None
    when ``tenant_id`` had no such deleted mailbox (unknown or another tenant's ID)."""
    try:
        ref = int(str(ref))
    except ValueError:
        return None
    if not deleted_mailboxes(tenant_id).filter(mailbox_ref=ref).exists():
        return None
    return MailboxAuditEntry.objects.filter(
        tenant_id=tenant_id, mailbox_ref=ref, mailbox__isnull=True
    )
