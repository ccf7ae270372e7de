"""The one access rule for mailboxes. Every view, API endpoint, action, task and
download asks here.

- A user *reads* a mailbox (its messages, the e-mail module) when it belongs to the
  user's tenant, the tenant's edition includes the e-mail manager, and the user is a
  direct owner or a member of a linked workflow group.
- Every change takes a right, listed once in ``_RIGHTS``: the settings, the owners
  and deleting take ``email_manager``; linking workflow groups also ``multi_user``;
  repairing the synchronisation ``repair_sync``. Managers read mail only when they
  are owners too.
- Outsiders get 404 (they must not learn that an ID exists); insiders lacking the
  right get 403 with a message.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from postkamer.accounts.models import Tenant, User
from postkamer.mailboxes.models import Mailbox

READ = "read"
MANAGE = "manage"  # the settings
OWNERS = "owners"  # who reads the mail
GROUPS = "groups"  # linking workflow groups
DELETE = "delete"
REPAIR = "repair"  # Synchronisatie herstellen

# The rights each change takes. Deleting takes what changing the owners takes:
# both decide who keeps the mail, and a manager may make themselves an owner
# anyway, so asking for ownership as well would only look safer.
_RIGHTS: dict[str, tuple[str, ...]] = {
    MANAGE: ("email_manager",),
    OWNERS: ("email_manager",),
    DELETE: ("email_manager",),
    GROUPS: ("email_manager", "multi_user"),
    REPAIR: ("repair_sync",),
}


def edition_message() -> str:
    return _(
        "The e-mail manager is not part of your edition. It is available in "
        "Compleet, Verzekering Provinciaal and Hypotheek Totaal."
    )


def right_message() -> str:
    return _("You need the right 'e-mail manager' to open the e-mail manager.")


def _missing_right_message(right: str) -> str:
    if right == "multi_user":
        return _("You need the right 'multi-user' to link workflow groups to mailboxes.")
    if right == "repair_sync":
        return _("You need the right 'repair synchronisation' to repair the synchronisation.")
    return _("You need the right 'e-mail manager' to change mailboxes.")


def office_problem(user: User) -> tuple[str, str] | None:
    """(title, message) when ``user`` cannot use the e-mail manager at all: platform
    staff without a tenant, or a tenant whose edition lacks it. None otherwise."""
    if user.tenant_id is None:
        return _("No office account"), _("Platform staff work in the admin site.")
    if not user.tenant.has_email_manager:
        return _("Not in your edition"), edition_message()
    return None


def right_problem(user: User, need: str) -> str | None:
    """Why ``user`` may not make a ``need`` change (a sentence), or None when they may."""
    for right in _RIGHTS[need]:
        if not user.has_right(right):
            return _missing_right_message(right)
    return None


def check_right(user: User, need: str) -> None:
    """Raise PermissionDenied with the reason unless ``user`` holds the rights for ``need``."""
    problem = right_problem(user, need)
    if problem is not None:
        raise PermissionDenied(problem)


def is_platform_staff(user: User | None) -> bool:
    """Staff without a tenant: they work in the Django admin, whose own permissions apply."""
    return bool(user is not None and user.is_active and user.is_staff and user.tenant_id is None)


def check_change(actor: User | None, tenant: Tenant, need: str) -> None:
    """Raise unless ``actor`` may make a ``need`` change to a mailbox of ``tenant``.

    The action functions call this, whoever calls them: an office user needs the
    tenant (Http404 otherwise, as for any outsider), the edition and the rights;
    platform staff pass (the admin site checked their Django permissions), and
    ``None`` is Postkamer itself (the worker, a command).
    """
    if actor is None or is_platform_staff(actor):
        return
    if not actor.is_authenticated or actor.tenant_id != tenant.pk:
        raise Http404(_("Mailbox not found."))
    if not tenant.has_email_manager:
        raise PermissionDenied(edition_message())
    check_right(actor, need)


def _tenant_mailboxes(user: User) -> QuerySet[Mailbox]:
    if not user.is_authenticated or not user.is_active or user.tenant_id is None:
        return Mailbox.objects.none()
    if not user.tenant.has_email_manager:
        return Mailbox.objects.none()
    return Mailbox.objects.filter(tenant_id=user.tenant_id)


def owner_filter(user: User) -> Q:
    """Q for "user is a direct owner or a member of a linked group" (no joins fan-out)."""
    via_group = Mailbox.owner_groups.through.objects.filter(
        mailbox_id=OuterRef("pk"), workflowgroup__members=user
    )
    direct = Mailbox.owner_users.through.objects.filter(mailbox_id=OuterRef("pk"), user=user)
    return Q(Exists(direct)) | Q(Exists(via_group))


def readable_mailboxes(user: User) -> QuerySet[Mailbox]:
    """Mailboxes whose mail ``user`` may read."""
    return _tenant_mailboxes(user).filter(owner_filter(user))


def manageable_mailboxes(user: User) -> QuerySet[Mailbox]:
    """Mailboxes whose settings ``user`` may change."""
    if not user.is_authenticated or not user.has_right("email_manager"):
        return Mailbox.objects.none()
    return _tenant_mailboxes(user)


def visible_mailboxes(user: User) -> QuerySet[Mailbox]:
    """Mailboxes ``user`` may see in lists: the ones they read or manage."""
    if user.is_authenticated and user.has_right("email_manager"):
        return _tenant_mailboxes(user)
    return readable_mailboxes(user)


def users_who_can_read(mailbox: Mailbox) -> QuerySet[User]:
    """The active users who may read ``mailbox``'s mail: the same rule as
    :func:`readable_mailboxes`, asked from the mailbox's side."""
    if not mailbox.tenant.has_email_manager:
        return User.objects.none()
    return (
        User.objects.filter(tenant_id=mailbox.tenant_id, is_active=True)
        .filter(Q(owned_mailboxes=mailbox) | Q(workflow_groups__linked_mailboxes=mailbox))
        .distinct()
    )


def can_read(user: User, mailbox: Mailbox) -> bool:
    return readable_mailboxes(user).filter(pk=mailbox.pk).exists()


def can_manage(user: User, mailbox: Mailbox) -> bool:
    return manageable_mailboxes(user).filter(pk=mailbox.pk).exists()


def get_mailbox(user: User, pk: object, need: str = READ) -> Mailbox:
    """Return the mailbox ``pk`` if ``user`` may ``need`` it (READ or a change).

    Raises Http404 when the user may not see it at all (other tenant, unknown ID,
    no access) and PermissionDenied with a message when they see it but lack the
    right for ``need``.
    """
    try:
        mailbox = visible_mailboxes(user).get(pk=pk)
    except (Mailbox.DoesNotExist, ValueError, TypeError):
        raise Http404(_("Mailbox not found.")) from None
    if need == READ:
        if not can_read(user, mailbox):
            raise PermissionDenied(
                _(
                    "You manage this mailbox but are not one of its owners, "
                    "so you cannot read its mail."
                )
            )
    else:
        check_right(user, need)
    return mailbox


def default_mailbox_problem(user: User) -> str | None:
    """Return why the user's default mailbox is missing, or None when it is fine.

    A default that is no longer readable (access removed, mailbox deleted) is
    cleared here, so it never dangles.
    """
    if user.default_mailbox_id is not None:
        if readable_mailboxes(user).filter(pk=user.default_mailbox_id).exists():
            return None
        User.objects.filter(pk=user.pk).update(default_mailbox=None)
        user.default_mailbox = None
        return _(
            "Your default mailbox is no longer available to you. "
            "Choose another one under My settings."
        )
    return _("You have no default mailbox. Choose one under My settings.")
