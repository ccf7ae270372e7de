"""View guards for the e-mail manager pages: they turn ``access``'s answers into
refusal pages (edition first, then the right). The rules themselves live in
``access``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from postkamer.mailboxes import access


def _refuse(request: HttpRequest, title: str, message: str) -> HttpResponse:
    return render(request, "refused.html", {"title": title, "message": message}, status=403)


def email_module_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in, an office user, and the tenant's edition has the e-mail manager."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        problem = access.office_problem(request.user)
        if problem is not None:
            return _refuse(request, *problem)
        return view(request, *args, **kwargs)

    return wrapper


def email_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """As email_module_required, plus the right ``email_manager``."""

    @email_module_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_right("email_manager"):
            return _refuse(request, _("No access"), access.right_message())
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
        if not access.visible_mailboxes(request.user).filter(pk=kwargs["pk"]).exists():
            raise Http404(_("Mailbox not found."))
        if not request.user.has_right("email_manager"):
            return _refuse(request, _("No access"), access.right_message())
        return view(request, *args, **kwargs)

    return wrapper
