"""Access tokens for OAuth2 mailboxes: cached in the database, refreshed one at a time.

Every IMAP and SMTP login of an ``office365`` or ``gmail`` mailbox asks
:func:`access_token`. The answer comes from the mailbox's :class:`OAuthGrant`:

1. **Cached.** The access token is stored encrypted with the moment it may be used
   until (a quarter of its lifetime, at most five minutes, before it expires), so
   the web process (connection test, folder list) and the worker processes (fetch,
   send, APPEND) share one token instead of each asking the platform.
2. **One refresh at a time.** When it is stale, a process claims the refresh with a
   conditional UPDATE (``refresh_claim``, expiring by itself when the process dies);
   the others wait for its result. Two refreshes with one refresh token would be
   refused, or worse, taken as a stolen token, by platforms that rotate them.
3. **Stored in one statement.** The new access token, and a rotated refresh token,
   replace the old ones in one UPDATE that only succeeds while the claim is still
   ours: a reconnect or a change of settings meanwhile (which clear the claim)
   wins, and the answer is not used.
4. **Revoked.** ``invalid_grant`` (consent revoked, password reset, token expired)
   marks the grant ``needs_reconnect`` once: the log says so and everyone who reads
   the mailbox is notified; from then on every login fails at once with the same
   error (no calls to the platform) until someone connects again.
   A platform that cannot be reached is a temporary error and changes nothing.

App-only (client credentials) mailboxes have a grant without refresh token; the
same cache and claim apply.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from postkamer import crypto
from postkamer.accounts.models import Notification
from postkamer.mail import errors, oauth2
from postkamer.mailboxes import access, audit, providers
from postkamer.mailboxes.models import (
    OAUTH_TYPES,
    AuditAction,
    Mailbox,
    MailboxType,
    MicrosoftAuth,
    OAuthGrant,
)
from postkamer.mailboxes.trust import ssl_context

log = logging.getLogger(__name__)

NOT_CONNECTED = "not_connected"
CONNECTED = "connected"
RECONNECT_NEEDED = "reconnect_needed"

#: A token is used until this long before it expires (or a quarter of its lifetime).
MARGIN = dt.timedelta(minutes=5)
#: How often a process waiting for another's refresh looks again.
WAIT_STEP = 0.05


def http_options() -> oauth2.HttpOptions:
    """How to reach the identity platforms: the mail connections' TLS trust and time-out."""
    return oauth2.HttpOptions(ssl_context=ssl_context(), timeout=settings.POSTKAMER_MAIL_TIMEOUT)


def _claim_seconds() -> float:
    # Longer than one token request can take; a dead claimant's claim then expires.
    return 4 * settings.POSTKAMER_MAIL_TIMEOUT + 5


def use_until(now: dt.datetime, lifetime: float) -> dt.datetime:
    """Until when a token of ``lifetime`` seconds, received ``now``, is used."""
    margin = min(MARGIN.total_seconds(), lifetime / 4)
    return now + dt.timedelta(seconds=lifetime - margin)


def grant_of(mailbox: Mailbox) -> OAuthGrant | None:
    """The mailbox's grant when it still fits its settings, else None."""
    grant = OAuthGrant.objects.filter(mailbox_id=mailbox.pk).first()
    if grant is None or not matches(grant, mailbox):
        return None
    return grant


def matches(grant: OAuthGrant, mailbox: Mailbox) -> bool:
    """True when ``grant`` was given for the mailbox's present provider, flow and tenant."""
    return (
        grant.provider == providers.provider_name(mailbox.type)
        and grant.flow == providers.flow(mailbox)
        and grant.tenant == providers.grant_tenant(mailbox)
    )


def status(mailbox: Mailbox, grant: OAuthGrant | None = None) -> str | None:
    """``not_connected``, ``connected`` or ``reconnect_needed``; None for IMAP mailboxes.

    ``grant`` saves the query when the caller has it (e.g. from ``select_related``)."""
    if not mailbox.uses_oauth:
        return None
    if grant is None:
        grant = grant_of(mailbox)
    elif not matches(grant, mailbox):
        grant = None
    if grant is None:
        return NOT_CONNECTED
    if grant.needs_reconnect:
        return RECONNECT_NEEDED
    if grant.flow == MicrosoftAuth.APPLICATION:
        # Nobody connects app-only access: it is connected once a token came.
        return CONNECTED if grant.access_token_enc else NOT_CONNECTED
    return CONNECTED if grant.refresh_token_enc else NOT_CONNECTED


def account(mailbox: Mailbox, grant: OAuthGrant | None = None) -> str:
    """The account that connected the mailbox ("" when none)."""
    if grant is None:
        grant = grant_of(mailbox)
    return grant.account if grant is not None and matches(grant, mailbox) else ""


def login_name(mailbox: Mailbox, provider: providers.Provider) -> str:
    """The user name XOAUTH2 logs in with."""
    if provider.login_as_account:
        return account(mailbox) or mailbox.sender_address
    return mailbox.sender_address


def access_token(mailbox: Mailbox) -> str:
    """Return a valid access token for ``mailbox``, refreshing it when needed (see the
    module docstring).

    Raises ``OAuthNotConfigured``, ``OAuthNotConnected``, ``OAuthReconnect``,
    ``OAuthUnavailable`` (also when another process's refresh does not finish in
    time), the other ``OAuth*`` errors, ``CertificateUntrusted`` or ``SecretUnreadable``.
    """
    provider = providers.for_mailbox(mailbox)
    provider.check_configured()
    give_up = time.monotonic() + _claim_seconds()
    while True:
        grant = _usable_grant(mailbox, provider)
        now = timezone.now()
        if _fresh(grant, now):
            return crypto.decrypt(grant.access_token_enc)
        claim = _claim(grant, now)
        if claim is not None:
            token = _refresh(mailbox, provider, claim)
            if token is not None:
                return token
            continue  # reconnected or changed meanwhile: start from what is stored now
        if time.monotonic() > give_up:
            raise errors.OAuthUnavailable(
                provider.name, f"another refresh of mailbox {mailbox.pk} did not finish"
            )
        time.sleep(WAIT_STEP)


def _usable_grant(mailbox: Mailbox, provider: providers.Provider) -> OAuthGrant:
    flow = providers.flow(mailbox)
    if flow == MicrosoftAuth.APPLICATION:
        grant, _created = OAuthGrant.objects.get_or_create(
            mailbox_id=mailbox.pk,
            defaults={
                "provider": provider.name,
                "flow": flow,
                "tenant": providers.grant_tenant(mailbox),
            },
        )
        if not matches(grant, mailbox):
            raise errors.OAuthNotConnected(provider.name, "the grant is for other settings")
        return grant
    grant = grant_of(mailbox)
    if grant is None or not grant.refresh_token_enc:
        raise errors.OAuthNotConnected(provider.name, f"mailbox {mailbox.pk} is not connected")
    if grant.needs_reconnect:
        raise errors.OAuthReconnect(provider.name, f"mailbox {mailbox.pk} awaits a new sign-in")
    return grant


def _fresh(grant: OAuthGrant, now: dt.datetime) -> bool:
    return bool(grant.access_token_enc and grant.access_use_until and grant.access_use_until > now)


def _claim(grant: OAuthGrant, now: dt.datetime) -> str | None:
    token = secrets.token_hex(16)
    taken = (
        OAuthGrant.objects.filter(pk=grant.pk)
        .filter(Q(refresh_claim_until__isnull=True) | Q(refresh_claim_until__lt=now))
        .update(
            refresh_claim=token,
            refresh_claim_until=now + dt.timedelta(seconds=_claim_seconds()),
        )
    )
    return token if taken else None


def _ours(grant_pk: int, claim: str) -> QuerySet[OAuthGrant]:
    return OAuthGrant.objects.filter(pk=grant_pk, refresh_claim=claim)


def _refresh(mailbox: Mailbox, provider: providers.Provider, claim: str) -> str | None:
    """Refresh under our claim; the new token, or None when the grant changed meanwhile."""
    grant = OAuthGrant.objects.get(pk=mailbox.pk)
    now = timezone.now()
    if _fresh(grant, now):
        # Someone refreshed between our look and our claim.
        _ours(grant.pk, claim).update(refresh_claim="", refresh_claim_until=None)
        return crypto.decrypt(grant.access_token_enc)
    old_refresh = ""
    try:
        if grant.flow == MicrosoftAuth.APPLICATION:
            assert provider.app_scope is not None
            tokens = oauth2.client_credentials(
                provider.endpoints, http_options(), scope=provider.app_scope, tenant=grant.tenant
            )
        else:
            old_refresh = crypto.decrypt(grant.refresh_token_enc)
            tokens = oauth2.refresh(
                provider.endpoints,
                http_options(),
                refresh_token=old_refresh,
                scopes=provider.refresh_scopes,
            )
    except errors.OAuthReconnect:
        if grant.flow == MicrosoftAuth.APPLICATION:
            _give_up(grant.pk, claim, forget_token=True)
        else:
            _mark_reconnect(mailbox, grant.pk, claim, provider)
        raise
    except errors.PermanentFailure:
        # App-only access that stopped working (wrong tenant, consent withdrawn) is
        # no longer "connected"; a delegated grant keeps its refresh token.
        _give_up(grant.pk, claim, forget_token=grant.flow == MicrosoftAuth.APPLICATION)
        raise
    except BaseException:
        _give_up(grant.pk, claim, forget_token=False)
        raise
    now = timezone.now()
    fields: dict[str, object] = {
        "access_token_enc": crypto.encrypt(tokens.access_token),
        "access_expires_at": now + dt.timedelta(seconds=tokens.expires_in),
        "access_use_until": use_until(now, tokens.expires_in),
        "refreshed_at": now,
        "refresh_claim": "",
        "refresh_claim_until": None,
    }
    rotated = bool(tokens.refresh_token and tokens.refresh_token != old_refresh)
    if rotated and grant.flow != MicrosoftAuth.APPLICATION:
        fields["refresh_token_enc"] = crypto.encrypt(tokens.refresh_token or "")
    with transaction.atomic():
        stored = _ours(grant.pk, claim).update(**fields)
    if not stored:
        return None
    log.info(
        "mailbox %s: new %s access token%s",
        mailbox.pk,
        provider.name,
        " (refresh token rotated)" if rotated else "",
    )
    return tokens.access_token


def _give_up(grant_pk: int, claim: str, *, forget_token: bool) -> None:
    fields: dict[str, object] = {"refresh_claim": "", "refresh_claim_until": None}
    if forget_token:
        fields.update(access_token_enc="", access_expires_at=None, access_use_until=None)
    _ours(grant_pk, claim).update(**fields)


def _mark_reconnect(
    mailbox: Mailbox, grant_pk: int, claim: str, provider: providers.Provider
) -> None:
    """Mark the grant as needing a new sign-in; log and notify once."""
    with transaction.atomic():
        marked = (
            _ours(grant_pk, claim)
            .filter(needs_reconnect=False)
            .update(
                needs_reconnect=True,
                access_token_enc="",
                access_expires_at=None,
                access_use_until=None,
                refresh_claim="",
                refresh_claim_until=None,
            )
        )
        if not marked:
            return
        log.info("mailbox %s: the %s sign-in is no longer valid", mailbox.pk, provider.name)
        audit.record(mailbox, None, AuditAction.OAUTH_EXPIRED, provider=provider.name)
        note = {"name": mailbox.name, "provider": provider.name}
        Notification.objects.bulk_create(
            Notification(
                user=user, mailbox=mailbox, kind=providers.RECONNECT_NOTIFICATION, params=note
            )
            for user in access.users_who_can_read(mailbox)
        )


def login_refused(mailbox: Mailbox, error: BaseException) -> None:
    """A mail server refused the login: when ``mailbox`` logs in with a cached access
    token, stop using it, so the next login asks for a new one. The platform may end
    a token before its time (a password reset, a withdrawn consent): the next refresh
    then says so (``oauth_reconnect``) instead of the server refusing for an hour."""
    if mailbox.uses_oauth and isinstance(error, errors.AuthFailed):
        OAuthGrant.objects.filter(
            mailbox_id=mailbox.pk, access_use_until__gt=timezone.now()
        ).update(access_use_until=timezone.now())


def never_connected() -> Q:
    """Q for Office 365 and Google mailboxes nobody has signed in for (app-only
    Office 365 needs no sign-in): they cannot log in, so nothing should try to fetch
    or watch them. One whose sign-in expired still counts as connected, so its
    errors are counted and its owners told."""
    return Q(type__in=OAUTH_TYPES, oauth_grant__isnull=True) & ~Q(
        type=MailboxType.OFFICE365, microsoft_auth=MicrosoftAuth.APPLICATION
    )


def is_never_connected(mailbox: Mailbox) -> bool:
    """:func:`never_connected` for one mailbox (its grant may be select_related)."""
    if mailbox.type not in OAUTH_TYPES:
        return False
    if mailbox.type == MailboxType.OFFICE365 and (
        mailbox.microsoft_auth == MicrosoftAuth.APPLICATION
    ):
        return False
    return grant_of(mailbox) is None


def reconnect_needed_ids(mailbox_ids: list[int]) -> set[int]:
    """Which of ``mailbox_ids`` wait for someone to connect them again (one query)."""
    return set(
        OAuthGrant.objects.filter(mailbox_id__in=mailbox_ids, needs_reconnect=True).values_list(
            "mailbox_id", flat=True
        )
    )
