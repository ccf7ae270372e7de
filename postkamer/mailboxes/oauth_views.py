"""Connecting an OAuth2 mailbox: "Verbinden met Microsoft / Google" and the way back.

1. ``connect`` (a GET link: the site's CSP lets forms post only to ourselves) makes
   the authorization request (code flow, PKCE S256) and keeps its ``state`` and code
   verifier in the session, server-side, then sends the browser to the platform.
2. ``callback`` takes the state out of the session (so an answer is used once),
   refuses one it does not know with a page that changes nothing, and otherwise
   exchanges the code and hands the tokens to ``actions.do_connect_oauth``.

Codes, tokens and secrets never reach a page, a message or the log; gunicorn's
access log leaves query strings out (``core/management/commands/serve.py``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from postkamer.mail import errors, oauth2
from postkamer.mailboxes import access, actions, oauth, providers
from postkamer.mailboxes.connection import describe_error
from postkamer.mailboxes.guards import mailbox_manager_required
from postkamer.mailboxes.models import Mailbox, MicrosoftAuth

#: Session key: state -> the sign-in it belongs to.
SESSION_KEY = "postkamer_oauth_pending"
#: A sign-in not finished within this many seconds is forgotten.
PENDING_SECONDS = 15 * 60
#: Sign-ins one session may have open at once (several tabs).
PENDING_MAX = 5
_ERROR_WORD = re.compile(r"^[A-Za-z0-9_]{1,40}$")


def connect_url(mailbox: Mailbox) -> str | None:
    """The "Connect" link of an OAuth2 mailbox (None for IMAP ones)."""
    name = providers.provider_name(mailbox.type)
    if name is None:
        return None
    return reverse(f"mailbox-{name}-connect", kwargs={"pk": mailbox.pk})


def panel(mailbox: Mailbox) -> dict[str, Any] | None:
    """What the mailbox page shows about the sign-in of an OAuth2 mailbox."""
    if mailbox.pk is None or not mailbox.uses_oauth:
        return None
    provider = providers.for_mailbox(mailbox)
    grant = oauth.grant_of(mailbox)
    account = oauth.account(mailbox, grant) if grant else ""
    return {
        "provider": provider.title,
        "configured": provider.configured,
        "application": providers.flow(mailbox) == MicrosoftAuth.APPLICATION,
        "tenant": providers.microsoft_tenant(mailbox),
        "status": oauth.status(mailbox, grant) if grant else oauth.NOT_CONNECTED,
        "account": account,
        "other_account": bool(account)
        and account.lower() != mailbox.sender_address.strip().lower(),
        "connect_url": connect_url(mailbox),
        "has_grant": grant is not None and grant.flow == MicrosoftAuth.DELEGATED,
    }


def _back(mailbox_pk: int) -> HttpResponse:
    return redirect("mailbox-edit", pk=mailbox_pk)


@mailbox_manager_required
@require_GET
@never_cache
def connect(request: HttpRequest, pk: int, provider: str) -> HttpResponse:
    """Start the sign-in for mailbox ``pk`` at ``provider``: 302 to its authorize page."""
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    title = providers.TITLES[provider]
    if providers.provider_name(mailbox.type) != provider:
        messages.error(
            request,
            _("This mailbox is not of a type that connects with %(provider)s.")
            % {"provider": title},
        )
        return _back(mailbox.pk)
    config = providers.for_mailbox(mailbox)
    if not config.configured:
        messages.error(request, describe_error(errors.OAuthNotConfigured(provider)))
        return _back(mailbox.pk)
    if providers.flow(mailbox) == MicrosoftAuth.APPLICATION:
        messages.info(
            request,
            _(
                "This mailbox uses the app's own permission: nobody needs to sign in. "
                "Use 'Test connection' to check it."
            ),
        )
        return _back(mailbox.pk)
    started = oauth2.authorization_request(
        config.endpoints,
        redirect_uri=providers.callback_url(provider),
        scopes=config.scopes,
        extra=config.authorize_extra,
    )
    now = time.time()
    pending = {
        state: entry
        for state, entry in (request.session.get(SESSION_KEY) or {}).items()
        if now - entry.get("at", 0) < PENDING_SECONDS
    }
    while len(pending) >= PENDING_MAX:
        pending.pop(min(pending, key=lambda s: pending[s]["at"]))
    pending[started.state] = {
        "mailbox": mailbox.pk,
        "provider": provider,
        "tenant": providers.grant_tenant(mailbox),
        "verifier": started.code_verifier,
        "at": now,
    }
    request.session[SESSION_KEY] = pending
    return HttpResponseRedirect(started.url)


def _take_pending(request: HttpRequest, state: str) -> dict[str, Any] | None:
    """Remove and return the sign-in ``state`` belongs to (None when unknown or old)."""
    pending = request.session.get(SESSION_KEY) or {}
    if not state or state not in pending:
        return None
    entry = pending.pop(state)
    request.session[SESSION_KEY] = pending
    if time.time() - entry.get("at", 0) >= PENDING_SECONDS:
        return None
    return entry


def _authorize_error(title: str, error: str) -> str:
    if error == "access_denied":
        return _(
            "The sign-in at %(provider)s was cancelled or the permissions were refused. "
            "Nothing was changed."
        ) % {"provider": title}
    if error in ("consent_required", "interaction_required", "admin_consent_required"):
        return _(
            "%(provider)s wants an administrator of your organisation to approve "
            "Postkamer's permissions first. Nothing was changed."
        ) % {"provider": title}
    word = error if _ERROR_WORD.match(error) else "unknown"
    return _("%(provider)s did not connect the mailbox (%(error)s). Nothing was changed.") % {
        "provider": title,
        "error": word,
    }


@require_GET
@never_cache
def callback(request: HttpRequest, provider: str) -> HttpResponse:
    """The platform sends the browser back here with ``code`` and ``state`` (or ``error``)."""
    title = providers.TITLES[provider]
    if not request.user.is_authenticated:
        # The plain login page, not one with this URL as "next" (nor a page rendered
        # here, whose language switch repeats the URL): the code would end up in its
        # HTML, and the sign-in it belonged to went with the old session anyway.
        messages.error(
            request,
            _(
                "You were logged out while signing in at %(provider)s. Nothing was changed: "
                "log in and connect the mailbox again."
            )
            % {"provider": title},
        )
        return redirect(settings.LOGIN_URL)
    entry = _take_pending(request, request.GET.get("state", ""))
    if entry is None or entry.get("provider") != provider:
        return render(
            request,
            "refused.html",
            {
                "title": _("Not connected"),
                "message": _(
                    "This answer from %(provider)s does not belong to a sign-in started "
                    "here, or it was used already. Nothing was changed: start again with "
                    "'Connect with %(provider)s' on the mailbox page."
                )
                % {"provider": title},
            },
            status=400,
        )
    mailbox = access.get_mailbox(request.user, entry["mailbox"], access.MANAGE)
    if request.GET.get("error"):
        messages.error(request, _authorize_error(title, request.GET["error"]))
        return _back(mailbox.pk)
    code = request.GET.get("code", "")
    if not code:
        messages.error(
            request,
            _("%(provider)s sent no authorization code. Nothing was changed: connect again.")
            % {"provider": title},
        )
        return _back(mailbox.pk)
    if provider == providers.MICROSOFT:
        config = providers.microsoft(entry["tenant"] or providers.MICROSOFT_ANY_TENANT)
    else:
        config = providers.google()
    try:
        tokens = oauth2.exchange_code(
            config.endpoints,
            oauth.http_options(),
            code=code,
            redirect_uri=providers.callback_url(provider),
            code_verifier=entry["verifier"],
        )
        saved = actions.do_connect_oauth(
            request.user, mailbox, provider=provider, tenant=entry["tenant"], tokens=tokens
        )
    except errors.MailError as error:
        messages.error(request, describe_error(error))
        return _back(mailbox.pk)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return _back(mailbox.pk)
    account = tokens.account or _("an unknown account")
    messages.success(
        request,
        _("Mailbox '%(name)s' is connected with %(provider)s as %(account)s.")
        % {"name": saved.name, "provider": title, "account": account},
    )
    # When the account is not the sender address, the page it returns to says so.
    return _back(saved.pk)


def other_account_warning(account: str, sender: str) -> str:
    return _(
        "You signed in as %(account)s, not as the sender address %(sender)s. That is fine "
        "for a shared mailbox that %(account)s may open (full access): Postkamer logs in "
        "to %(sender)s with this sign-in. Otherwise connect again with the right account."
    ) % {"account": account, "sender": sender}


@mailbox_manager_required
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    """Forget the mailbox's sign-in (its tokens); it fetches and sends no more."""
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    if actions.do_disconnect_oauth(request.user, mailbox):
        messages.success(request, _("The connection was removed; its tokens are deleted."))
    return _back(mailbox.pk)
