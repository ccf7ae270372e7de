"""Personas and objects for tests: two offices, users with and without each right."""

from __future__ import annotations

import itertools
from typing import Any

from postkamer.accounts.models import Organisation, Tenant, User, WorkflowGroup
from postkamer.accounts.services import ensure_user, root_organisation
from postkamer.mailboxes.models import Mailbox

PASSWORD = "Geheim-wachtwoord-1"
_seq = itertools.count(1)


def tenant(name: str | None = None, edition: str = "compleet") -> Tenant:
    t = Tenant.objects.create(name=name or f"Kantoor {next(_seq)}", edition=edition)
    root_organisation(t)
    return t


def user(
    t: Tenant,
    *,
    rights: tuple[str, ...] = (),
    email: str | None = None,
    organisation: Organisation | None = None,
    groups: tuple[str, ...] = (),
    language: str = "nl",
) -> User:
    u, _ = ensure_user(
        email or f"user{next(_seq)}@{t.name.lower().replace(' ', '')}.test",
        tenant=t,
        organisation=organisation,
        rights=rights,
        groups=groups,
        password=PASSWORD,
    )
    if u.language != language:
        u.language = language
        u.save(update_fields=["language"])
    return u


def group(t: Tenant, name: str, *, members: tuple[User, ...] = ()) -> WorkflowGroup:
    g = WorkflowGroup.objects.get_or_create(tenant=t, name=name)[0]
    if members:
        g.members.add(*members)
    return g


def organisation(t: Tenant, name: str, *, parent: Organisation | None = None) -> Organisation:
    """An organisation under ``parent`` (default: the tenant's root)."""
    return Organisation.objects.get_or_create(
        tenant=t, parent=parent or root_organisation(t), name=name
    )[0]


def mailbox(t: Tenant, *, owners: tuple[User, ...] = (), **fields: Any) -> Mailbox:
    n = next(_seq)
    values: dict[str, Any] = {
        "name": f"Mailbox {n}",
        "sender_address": f"box{n}@example.test",
        "imap_host": "127.0.0.1",
        "imap_port": 993,
        "imap_username": f"box{n}@example.test",
        "smtp_host": "127.0.0.1",
        "smtp_port": 587,
    }
    password = fields.pop("password", "secret")
    values.update(fields)
    box = Mailbox(tenant=t, **values)
    box.imap_password = password
    box.save()
    if owners:
        box.owner_users.add(*owners)
    return box
