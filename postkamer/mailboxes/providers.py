"""The identity platforms OAuth2 mailboxes sign in with, as this installation set them
up (environment variables, README "Configuration"): endpoints, scopes, and the IMAP
and SMTP servers their mailboxes use. Adding a provider is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings

from postkamer.mail import errors
from postkamer.mail.net import SECURITY_SSL, SECURITY_STARTTLS
from postkamer.mail.oauth2 import Endpoints
from postkamer.mailboxes.models import Mailbox, MailboxType, MicrosoftAuth

MICROSOFT = "microsoft"
GOOGLE = "google"

#: Brand names in sentences ("Verbinden met Microsoft"); not translated.
TITLES = {MICROSOFT: "Microsoft", GOOGLE: "Google"}

#: Ports on which the server speaks TLS from the first byte; any other: STARTTLS.
IMPLICIT_TLS_PORTS = (993, 465)

#: Notification kind: "connect mailbox X again" (params: name, provider).
RECONNECT_NOTIFICATION = "oauth_reconnect_needed"

#: The tenant of the delegated sign-in when the mailbox names none: any work account.
MICROSOFT_ANY_TENANT = "organizations"


@dataclass(frozen=True)
class Provider:
    """One identity platform for one mailbox (Microsoft's endpoints carry its tenant)."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    #: Asked for at sign-in (delegated).
    scopes: tuple[str, ...]
    #: Sent with a refresh (empty: the platform keeps the granted ones).
    refresh_scopes: tuple[str, ...]
    #: Extra authorization parameters (prompt, offline access).
    authorize_extra: dict[str, str]
    imap: tuple[str, int]
    smtp: tuple[str, int]
    #: XOAUTH2 logs in as the signed-in account (Google) or as the mailbox (Microsoft:
    #: a shared mailbox is opened with a person's token, or with the app's own).
    login_as_account: bool
    #: The client-credentials scope of app-only access; None when not offered.
    app_scope: str | None = None

    @property
    def title(self) -> str:
        return TITLES[self.name]

    @property
    def configured(self) -> bool:
        return bool(self.client_id)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            provider=self.name,
            authorize_url=self.authorize_url,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )

    def check_configured(self) -> None:
        """Raise ``OAuthNotConfigured`` when the installation has no app here."""
        if not self.configured:
            raise errors.OAuthNotConfigured(self.name, f"no {self.name} client ID configured")


def provider_name(mailbox_type: str) -> str | None:
    """The provider of a mailbox type, None for a password (IMAP) mailbox."""
    return {MailboxType.OFFICE365: MICROSOFT, MailboxType.GMAIL: GOOGLE}.get(mailbox_type)


def security_for(port: int) -> str:
    return SECURITY_SSL if port in IMPLICIT_TLS_PORTS else SECURITY_STARTTLS


def microsoft_tenant(mailbox: Mailbox) -> str:
    """The tenant segment of the Microsoft URLs for ``mailbox``."""
    return mailbox.microsoft_tenant.strip() or MICROSOFT_ANY_TENANT


def flow(mailbox: Mailbox) -> str:
    """``delegated`` or ``application`` (Google mailboxes are always delegated)."""
    if mailbox.type == MailboxType.OFFICE365:
        return mailbox.microsoft_auth
    return MicrosoftAuth.DELEGATED


def grant_tenant(mailbox: Mailbox) -> str:
    """The tenant a grant of ``mailbox`` belongs to ("" for Google)."""
    return microsoft_tenant(mailbox) if mailbox.type == MailboxType.OFFICE365 else ""


def microsoft(tenant: str) -> Provider:
    base = f"{settings.POSTKAMER_MS_LOGIN_URL}/{quote(tenant, safe='')}/oauth2/v2.0"
    mail_scopes = (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    )
    return Provider(
        name=MICROSOFT,
        client_id=settings.POSTKAMER_MS_CLIENT_ID,
        client_secret=settings.POSTKAMER_MS_CLIENT_SECRET,
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        scopes=("offline_access", "openid", "email", *mail_scopes),
        refresh_scopes=("offline_access", *mail_scopes),
        # Let the administrator choose the account instead of whoever is signed in.
        authorize_extra={"prompt": "select_account"},
        imap=settings.POSTKAMER_MS_IMAP,
        smtp=settings.POSTKAMER_MS_SMTP,
        login_as_account=False,
        app_scope="https://outlook.office365.com/.default",
    )


def google() -> Provider:
    return Provider(
        name=GOOGLE,
        client_id=settings.POSTKAMER_GOOGLE_CLIENT_ID,
        client_secret=settings.POSTKAMER_GOOGLE_CLIENT_SECRET,
        authorize_url=settings.POSTKAMER_GOOGLE_AUTH_URL,
        token_url=settings.POSTKAMER_GOOGLE_TOKEN_URL,
        scopes=("openid", "email", "https://mail.google.com/"),
        refresh_scopes=(),
        # Google gives a refresh token only with offline access, and again only
        # when consent is asked again (a reconnect must get a new one).
        authorize_extra={"access_type": "offline", "prompt": "consent select_account"},
        imap=settings.POSTKAMER_GOOGLE_IMAP,
        smtp=settings.POSTKAMER_GOOGLE_SMTP,
        login_as_account=True,
    )


def for_mailbox(mailbox: Mailbox) -> Provider:
    """The provider of ``mailbox`` with its tenant; raises ValueError for IMAP ones."""
    name = provider_name(mailbox.type)
    if name == MICROSOFT:
        return microsoft(microsoft_tenant(mailbox))
    if name == GOOGLE:
        return google()
    raise ValueError(f"mailbox {mailbox.pk} of type {mailbox.type!r} has no OAuth2 provider")


def by_name(name: str) -> Provider:
    """The provider ``name`` with Microsoft's any-tenant endpoints (for what is not
    about one mailbox: is the installation set up, what is it called)."""
    return microsoft(MICROSOFT_ANY_TENANT) if name == MICROSOFT else google()


def callback_url(name: str) -> str:
    """The redirect URI registered with the provider's app (docs/office365.md)."""
    return f"{settings.BASE_URL}/oauth/{name}/callback/"
