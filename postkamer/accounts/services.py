"""Creating tenants and users: shared by the commands, the admin and the tests."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from postkamer.accounts.models import Organisation, Right, Tenant, User, WorkflowGroup

ALL_RIGHTS = [r.value for r in Right]


def root_organisation(tenant: Tenant) -> Organisation:
    """Return the tenant's root organisation, created (named after the tenant) if missing."""
    root = Organisation.objects.filter(tenant=tenant, parent=None).order_by("pk").first()
    if root is None:
        root = Organisation.objects.create(tenant=tenant, name=tenant.name)
    return root


@transaction.atomic
def bootstrap(tenant_name: str, edition: str, admin_email: str, password: str) -> tuple[User, bool]:
    """Create (or find) a tenant, its root organisation and an administrator with every right.

    Returns (user, created). An existing administrator keeps its password.
    """
    tenant, _ = Tenant.objects.get_or_create(name=tenant_name, defaults={"edition": edition})
    if tenant.edition != edition:
        tenant.edition = edition
        tenant.save(update_fields=["edition"])
    root = root_organisation(tenant)
    user, created = ensure_user(
        admin_email, tenant=tenant, organisation=root, rights=ALL_RIGHTS, password=password
    )
    return user, created


@transaction.atomic
def ensure_user(
    email: str,
    *,
    tenant: Tenant,
    organisation: Organisation | None = None,
    rights: Iterable[str] = (),
    groups: Iterable[str] = (),
    password: str | None = None,
    name: str = "",
) -> tuple[User, bool]:
    """Create the user ``email`` in ``tenant`` or update an existing one there.

    Unknown rights raise ValueError. A user of another tenant raises ValueError too:
    an e-mail address belongs to one tenant. Returns (user, created).
    """
    rights = list(rights)
    unknown = set(rights) - set(ALL_RIGHTS)
    if unknown:
        raise ValueError(f"unknown right(s): {', '.join(sorted(unknown))}")
    email = email.strip().lower()
    organisation = organisation or root_organisation(tenant)
    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email, password, tenant=tenant, name=name)
    elif user.tenant_id != tenant.pk:
        raise ValueError(f"{email} already belongs to another tenant")
    user.organisation = organisation
    for right in rights:
        setattr(user, f"right_{right}", True)
    if name and not user.name:
        user.name = name
    user.save()
    for group_name in groups:
        group, _ = WorkflowGroup.objects.get_or_create(tenant=tenant, name=group_name)
        group.members.add(user)
    return user, created
