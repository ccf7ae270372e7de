"""Every change to a mailbox: one function each, called by the pages, the API, the
Django admin and the worker alike, so each rule lives in one place.

Each function checks who may make the change (``access.check_change``), checks
the settings (``validation``; a form or serializer has shown the same messages
already, this is the last word), does what the change implies (the creator
becomes an owner, choosing an interval again switches fetching back on) and
writes the audit entry, all in one transaction.

``actor`` is the user making the change: an office user, platform staff in the
admin, or None for Postkamer itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from postkamer import crypto
from postkamer.accounts.models import Tenant, User, WorkflowGroup
from postkamer.mail.oauth2 import Tokens
from postkamer.mailboxes import access, audit, oauth, providers, validation
from postkamer.mailboxes.models import (
    SETTINGS_FIELDS,
    AuditAction,
    Mailbox,
    MicrosoftAuth,
    OAuthGrant,
)


def _validate(changes: Mapping[str, Any], tenant: Tenant, instance: Mailbox | None) -> None:
    errors = validation.mailbox_errors(changes, tenant_id=tenant.pk, instance=instance)
    if errors:
        raise ValidationError(errors)


def _apply(mailbox: Mailbox, changes: Mapping[str, Any]) -> None:
    for name in SETTINGS_FIELDS:
        if name in changes and name != "interval_minutes":
            setattr(mailbox, name, changes[name])
    if "interval_minutes" in changes:
        mailbox.set_interval(changes["interval_minutes"])
    # Empty means "keep": a password is never cleared by leaving its field empty.
    if changes.get("imap_password"):
        mailbox.imap_password = changes["imap_password"]
    if changes.get("smtp_password"):
        mailbox.smtp_password = changes["smtp_password"]


@transaction.atomic
def do_create_mailbox(actor: User | None, tenant: Tenant, settings: Mapping[str, Any]) -> Mailbox:
    """Create a mailbox of ``tenant`` from ``settings`` (SETTINGS_FIELDS, plus the
    passwords) and return it.

    The synchronisation date defaults to now, so a new mailbox does not pull in
    years of history; an office user who creates it becomes an owner, so it is
    readable at once (the owners tab can take that away again).
    Raises ValidationError (a dict of field messages), PermissionDenied or Http404.
    """
    access.check_change(actor, tenant, access.MANAGE)
    _validate(settings, tenant, None)
    mailbox = Mailbox(tenant=tenant)
    _apply(mailbox, settings)
    if not settings.get("sync_since"):
        mailbox.sync_since = timezone.now()
    mailbox.save()
    if actor is not None and actor.tenant_id == tenant.pk:
        mailbox.owner_users.add(actor)
    audit.record(mailbox, actor, AuditAction.CREATED)
    return mailbox


@transaction.atomic
def do_update_mailbox(actor: User | None, mailbox: Mailbox, changes: Mapping[str, Any]) -> Mailbox:
    """Apply ``changes`` (some SETTINGS_FIELDS, new passwords; "" keeps one) and
    return the stored mailbox.

    Works on the stored row, not on ``mailbox``'s attributes (a form may have
    changed those in memory already). Changing the server, port, security or
    user name a stored password is used for needs that password again
    (``validation.secret_rebinding_errors``). The changed setting names, never
    their values, go into the audit log.
    Raises ValidationError (a dict of field messages), PermissionDenied or Http404.
    """
    access.check_change(actor, mailbox.tenant, access.MANAGE)
    stored = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    _validate(changes, stored.tenant, stored)
    before = audit.settings_snapshot(stored)
    bound_to = _grant_binding(stored)
    _apply(stored, changes)
    stored.save()
    audit.record_settings_change(stored, actor, before)
    if _grant_binding(stored) != bound_to:
        _forget_grant(stored, actor, reason="settings")
    return stored


def _grant_binding(mailbox: Mailbox) -> tuple[str, ...]:
    # What a stored OAuth2 grant was given for. A refresh token of one tenant or
    # account is never used for another, nor for another mailbox: XOAUTH2 logs in
    # as the sender address, so a new address could reach a person's own mail
    # with the token they gave for a shared mailbox.
    return (
        mailbox.type,
        mailbox.microsoft_auth,
        mailbox.microsoft_tenant.strip().lower(),
        mailbox.sender_address.strip().lower(),
    )


def _forget_grant(mailbox: Mailbox, actor: User | None, *, reason: str) -> bool:
    grant = OAuthGrant.objects.filter(mailbox=mailbox).first()
    if grant is None:
        return False
    grant.delete()
    if grant.flow == MicrosoftAuth.DELEGATED:
        audit.record(
            mailbox,
            actor,
            AuditAction.OAUTH_DISCONNECTED,
            provider=grant.provider,
            account=grant.account,
            reason=reason,
        )
    return True


@transaction.atomic
def do_delete_mailbox(actor: User | None, mailbox: Mailbox) -> None:
    """Delete ``mailbox`` with its stored mail; its audit log stays, ending with who
    deleted it (see ``MailboxAuditEntry``). Takes the right that changes the owners."""
    access.check_change(actor, mailbox.tenant, access.DELETE)
    audit.record(
        mailbox,
        actor,
        AuditAction.DELETED,
        name=mailbox.name,
        sender_address=mailbox.sender_address,
    )
    mailbox.delete()


# -- OAuth2 sign-in (office365, gmail) -----------------------------------------------


@transaction.atomic
def do_connect_oauth(
    actor: User | None, mailbox: Mailbox, *, provider: str, tenant: str, tokens: Tokens
) -> Mailbox:
    """Keep the tokens of a finished sign-in ("Verbinden met Microsoft/Google") for
    ``mailbox``, replacing any earlier grant, and return the stored mailbox.

    ``provider`` and ``tenant`` are those the sign-in was started for; when the
    mailbox's settings no longer fit them (changed while the person was signing
    in), nothing is stored. An error left by an expired sign-in is cleared, so
    fetching goes on where it stopped. Raises ValidationError, PermissionDenied or
    Http404.
    """
    access.check_change(actor, mailbox.tenant, access.MANAGE)
    stored = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    if (
        providers.provider_name(stored.type) != provider
        or providers.flow(stored) != MicrosoftAuth.DELEGATED
        or providers.grant_tenant(stored) != tenant
    ):
        raise ValidationError(
            _("The mailbox's settings changed during the sign-in. Connect it again.")
        )
    if not tokens.refresh_token:
        raise ValidationError(
            _(
                "%(provider)s gave no lasting permission (no refresh token). Connect again "
                "and accept every question."
            )
            % {"provider": providers.TITLES[provider]}
        )
    now = timezone.now()
    OAuthGrant.objects.update_or_create(
        mailbox=stored,
        defaults={
            "provider": provider,
            "flow": MicrosoftAuth.DELEGATED,
            "tenant": tenant,
            "account": tokens.account,
            "refresh_token_enc": crypto.encrypt(tokens.refresh_token),
            "access_token_enc": crypto.encrypt(tokens.access_token),
            "access_expires_at": now + dt.timedelta(seconds=tokens.expires_in),
            "access_use_until": oauth.use_until(now, tokens.expires_in),
            "needs_reconnect": False,
            "connected_at": now,
            "refreshed_at": now,
            "refresh_claim": "",
            "refresh_claim_until": None,
        },
    )
    if stored.last_error_code.startswith("oauth_") or stored.last_error_code == "auth_failed":
        stored.error_count, stored.last_error_code, stored.last_error_params = 0, "", {}
        stored.save(update_fields=["error_count", "last_error_code", "last_error_params"])
    audit.record(
        stored, actor, AuditAction.OAUTH_CONNECTED, provider=provider, account=tokens.account
    )
    return stored


@transaction.atomic
def do_disconnect_oauth(actor: User | None, mailbox: Mailbox) -> bool:
    """Forget the mailbox's OAuth2 grant (its tokens); False when there was none."""
    access.check_change(actor, mailbox.tenant, access.MANAGE)
    stored = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    return _forget_grant(stored, actor, reason="disconnected")


# -- owners ------------------------------------------------------------------------


def _check_user(mailbox: Mailbox, user: User) -> None:
    # Unknown users and other tenants' users get the same answer.
    if user.tenant_id != mailbox.tenant_id:
        raise Http404(_("User not found."))


def _check_group(mailbox: Mailbox, group: WorkflowGroup) -> None:
    if group.tenant_id != mailbox.tenant_id:
        raise Http404(_("Workflow group not found."))


@transaction.atomic
def do_add_owner(actor: User | None, mailbox: Mailbox, user: User) -> bool:
    """Make ``user`` a direct owner. Returns False when they already were one."""
    access.check_change(actor, mailbox.tenant, access.OWNERS)
    _check_user(mailbox, user)
    if mailbox.owner_users.filter(pk=user.pk).exists():
        return False
    mailbox.owner_users.add(user)
    audit.record(mailbox, actor, AuditAction.OWNER_ADDED, user=user.pk, user_name=user.display_name)
    return True


@transaction.atomic
def do_remove_owner(actor: User | None, mailbox: Mailbox, user: User) -> bool:
    """Take away ``user``'s direct ownership (group access stays). False if none."""
    access.check_change(actor, mailbox.tenant, access.OWNERS)
    if not mailbox.owner_users.filter(pk=user.pk).exists():
        return False
    mailbox.owner_users.remove(user)
    audit.record(
        mailbox, actor, AuditAction.OWNER_REMOVED, user=user.pk, user_name=user.display_name
    )
    return True


@transaction.atomic
def do_link_group(actor: User | None, mailbox: Mailbox, group: WorkflowGroup) -> bool:
    """Link ``group``: all its current and future members read the mailbox."""
    access.check_change(actor, mailbox.tenant, access.GROUPS)
    _check_group(mailbox, group)
    if mailbox.owner_groups.filter(pk=group.pk).exists():
        return False
    mailbox.owner_groups.add(group)
    audit.record(mailbox, actor, AuditAction.GROUP_LINKED, group=group.pk, group_name=group.name)
    return True


@transaction.atomic
def do_unlink_group(actor: User | None, mailbox: Mailbox, group: WorkflowGroup) -> bool:
    """Unlink ``group``; members who are also direct owners keep their access."""
    access.check_change(actor, mailbox.tenant, access.GROUPS)
    if not mailbox.owner_groups.filter(pk=group.pk).exists():
        return False
    mailbox.owner_groups.remove(group)
    audit.record(mailbox, actor, AuditAction.GROUP_UNLINKED, group=group.pk, group_name=group.name)
    return True


@transaction.atomic
def do_set_owners(
    actor: User | None,
    mailbox: Mailbox,
    *,
    users: Iterable[User] | None = None,
    groups: Iterable[WorkflowGroup] | None = None,
) -> None:
    """Make the direct owners ``users`` and the linked groups ``groups`` (None leaves
    that side alone), one audited add or remove per difference. Only a change of
    the groups takes the right ``multi_user``."""
    if users is not None:
        wanted = {u.pk: u for u in users}
        current = {u.pk: u for u in mailbox.owner_users.all()}
        for pk in sorted(current.keys() - wanted.keys()):
            do_remove_owner(actor, mailbox, current[pk])
        for pk in sorted(wanted.keys() - current.keys()):
            do_add_owner(actor, mailbox, wanted[pk])
    if groups is not None:
        wanted_groups = {g.pk: g for g in groups}
        linked = {g.pk: g for g in mailbox.owner_groups.all()}
        for pk in sorted(linked.keys() - wanted_groups.keys()):
            do_unlink_group(actor, mailbox, linked[pk])
        for pk in sorted(wanted_groups.keys() - linked.keys()):
            do_link_group(actor, mailbox, wanted_groups[pk])
