"""The one access rule for mailboxes. Every view, API endpoint, task and download asks here.

- A user *reads* a mailbox (its messages, the e-mail module) when it belongs to the
  user's tenant, the tenant's edition includes the e-mail manager, and the user is a
  direct owner or a member of a linked workflow group.
- A user *manages* a mailbox (its settings) with the right ``email_manager``.
  Managers read mail only when they are owners too.
- Changing the *owners* takes ``email_manager``; linking workflow groups also
  ``multi_user`` (``check_group_linking``).
- Outsiders get 404 (they must not learn that an ID exists); insiders lacking the
  right get 403 with a message.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from postkamer.accounts.models import User
from postkamer.mailboxes.models import Mailbox

READ = "read"
MANAGE = "manage"


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
    """Return the mailbox ``pk`` if ``user`` may ``need`` it.

    Raises Http404 when the user may not see it at all (other tenant, unknown ID,
    no access) and PermissionDenied with a message when they see it but lack the
    right for ``need``.
    """
    try:
        mailbox = visible_mailboxes(user).get(pk=pk)
    except (Mailbox.DoesNotExist, ValueError, TypeError):
        raise Http404(_("Mailbox not found.")) from None
    if need == MANAGE and not user.has_right("email_manager"):
        raise PermissionDenied(_("You need the right 'e-mail manager' to change mailboxes."))
    if need == READ and not can_read(user, mailbox):
        raise PermissionDenied(
            _("You manage this mailbox but are not one of its owners, so you cannot read its mail.")
        )
    return mailbox


def check_group_linking(user: User) -> None:
    """Raise PermissionDenied unless ``user`` may link workflow groups (right ``multi_user``)."""
    if not user.has_right("multi_user"):
        raise PermissionDenied(
            _("You need the right 'multi-user' to link workflow groups to mailboxes.")
        )


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
