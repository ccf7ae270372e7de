"""View guards for the e-mail manager: edition first, then the right."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def edition_message() -> str:
    return _(
        "The e-mail manager is not part of your edition. It is available in "
        "Compleet, Verzekering Provinciaal and Hypotheek Totaal."
    )


def right_message() -> str:
    return _("You need the right 'e-mail manager' to open the e-mail manager.")


def _refuse(request: HttpRequest, title: str, message: str) -> HttpResponse:
    return render(request, "refused.html", {"title": title, "message": message}, status=403)


def email_module_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in, an office user, and the tenant's edition has the e-mail manager."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.tenant_id is None:
            return _refuse(
                request, _("No office account"), _("Platform staff work in the admin site.")
            )
        if not user.tenant.has_email_manager:
            return _refuse(request, _("Not in your edition"), edition_message())
        return view(request, *args, **kwargs)

    return wrapper


def email_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """As email_module_required, plus the right ``email_manager``."""

    @email_module_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_right("email_manager"):
            return _refuse(request, _("No access"), right_message())
        return view(request, *args, **kwargs)

    return wrapper


def mailbox_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the pages of one mailbox (URL kwarg ``pk``).

    As email_module_required; then 404 unless the user may see that mailbox, so an
    outsider learns nothing about the ID (not even that a right is missing); then
    the right ``email_manager``. The view still calls ``access.get_mailbox``.
    """

    @email_module_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from postkamer.mailboxes.access import visible_mailboxes

        if not visible_mailboxes(request.user).filter(pk=kwargs["pk"]).exists():
            raise Http404(_("Mailbox not found."))
        if not request.user.has_right("email_manager"):
            return _refuse(request, _("No access"), right_message())
        return view(request, *args, **kwargs)

    return wrapper
