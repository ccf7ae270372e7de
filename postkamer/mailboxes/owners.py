"""Who owns a mailbox and who could (Tab Eigenaar): the lookups. The changes are
``actions.do_add_owner`` and friends."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from postkamer.accounts.models import Organisation, User, WorkflowGroup
from postkamer.mailboxes.models import Mailbox


@dataclass
class Owners:
    users: list[User]
    groups: list[WorkflowGroup]


def tenant_users(mailbox: Mailbox) -> QuerySet[User]:
    """Active users of the mailbox's tenant: the only ones that can be added."""
    return User.objects.filter(tenant_id=mailbox.tenant_id, is_active=True)


def tenant_groups(tenant_id: int) -> QuerySet[WorkflowGroup]:
    """The tenant's workflow groups with ``member_count``."""
    return WorkflowGroup.objects.filter(tenant_id=tenant_id).annotate(
        member_count=Count("members", distinct=True)
    )


def tenant_organisations(tenant_id: int, search: str = "") -> list[Organisation]:
    """The tenant's organisations as a depth-first list with ``depth`` set, for a tree.

    With ``search``, the matching organisations are kept together with their
    ancestors, so each match is still shown in its place in the tree.
    """
    orgs = list(Organisation.objects.filter(tenant_id=tenant_id).order_by("name"))
    by_id = {o.pk: o for o in orgs}
    keep: set[int] | None = None
    if search:
        keep = set()
        for org in orgs:
            if search.lower() in org.name.lower():
                node: Organisation | None = org
                while node is not None and node.pk not in keep:
                    keep.add(node.pk)
                    node = by_id.get(node.parent_id) if node.parent_id else None
    children: dict[int | None, list[Organisation]] = {}
    for org in orgs:
        parent = org.parent_id if org.parent_id in by_id else None
        children.setdefault(parent, []).append(org)
    result: list[Organisation] = []

    def walk(parent: int | None, depth: int) -> None:
        for org in children.get(parent, []):
            if keep is None or org.pk in keep:
                org.depth = depth  # type: ignore[attr-defined]
                result.append(org)
                walk(org.pk, depth + 1)

    walk(None, 0)
    return result


def owners_of(mailbox: Mailbox) -> Owners:
    users = list(mailbox.owner_users.select_related("organisation").order_by("name", "email"))
    groups = list(
        mailbox.owner_groups.annotate(member_count=Count("members", distinct=True)).order_by("name")
    )
    return Owners(users=users, groups=groups)


def find_user(mailbox: Mailbox, user_id: object) -> User:
    """The active user ``user_id`` of the mailbox's tenant; Http404 otherwise.

    Unknown IDs and users of another tenant give the same answer, so an ID
    reveals nothing.
    """
    try:
        return tenant_users(mailbox).get(pk=user_id)
    except (User.DoesNotExist, ValueError, TypeError):
        raise Http404(_("User not found.")) from None


def find_group(mailbox: Mailbox, group_id: object) -> WorkflowGroup:
    """The workflow group ``group_id`` of the mailbox's tenant; Http404 otherwise."""
    try:
        return WorkflowGroup.objects.get(tenant_id=mailbox.tenant_id, pk=group_id)
    except (WorkflowGroup.DoesNotExist, ValueError, TypeError):
        raise Http404(_("Workflow group not found.")) from None
