"""Exceptions raised by the mail protocol layer.

Every exception carries a stable machine-readable ``code`` (class attribute)
and an English detail as its message.  The Django layer translates ``code``
into user-facing text; the detail is for logs and must never contain secrets.
"""

from __future__ import annotations


class MailError(Exception):
    """Base class for all mail protocol errors."""

    code: str = "mail_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)

    @property
    def detail(self) -> str:
        """Return the English detail message."""
        return str(self)

    @property
    def params(self) -> dict[str, str]:
        """Return what the user-facing sentence needs besides ``code`` (JSON-safe)."""
        return {}


class TemporaryFailure(MailError):
    """A failure that may go away when retried later."""

    code = "temporary_failure"


class PermanentFailure(MailError):
    """A failure that will not go away without a change in settings."""

    code = "permanent_failure"


class AuthFailed(PermanentFailure):
    """The server rejected the credentials."""

    code = "auth_failed"


class HostNotFound(PermanentFailure):
    """The host name does not resolve."""

    code = "host_not_found"


class ConnectionRefused(TemporaryFailure):
    """The TCP connection could not be made (refused, unreachable)."""

    code = "connection_refused"


class Timeout(TemporaryFailure):
    """The server did not answer in time."""

    code = "timeout"


class CertificateUntrusted(PermanentFailure):
    """The server certificate failed verification (CA or host name)."""

    code = "certificate_untrusted"


class StartTLSUnavailable(PermanentFailure):
    """STARTTLS was required but the server does not offer it."""

    code = "no_starttls"


class PrivateHostRefused(PermanentFailure):
    """The host resolves to a private, loopback or otherwise internal address."""

    code = "private_host"


class ProtocolError(TemporaryFailure):
    """The server said something unexpected or broke the protocol."""

    code = "protocol_error"


class FolderMissing(PermanentFailure):
    """A mailbox folder does not exist on the server."""

    code = "folder_missing"

    def __init__(self, folder: str, detail: str = "") -> None:
        self.folder = folder
        super().__init__(detail or f"folder {folder!r} does not exist")

    @property
    def params(self) -> dict[str, str]:
        return {"folder": self.folder}


class TLSFailed(PermanentFailure):
    """The TLS handshake failed for a reason other than certificate trust."""

    code = "tls_failed"


class AuthUnavailable(PermanentFailure):
    """The server offers no authentication mechanism we can use."""

    code = "auth_unavailable"


class MessageRefused(PermanentFailure):
    """The SMTP server permanently (5xx) refused the sender, recipients or data."""

    code = "message_refused"


class MessageDeferred(TemporaryFailure):
    """The SMTP server temporarily (4xx) refused the sender, recipients or data."""

    code = "message_deferred"


# -- OAuth2: getting a token for XOAUTH2 (postkamer.mail.oauth2) ----------------------
#
# They are mail errors because a mailbox without a token cannot fetch or send: the
# fetch records them like a refused login, the sender retries the temporary one.


class OAuthError(MailError):
    """Base class of the token errors; ``provider`` names the identity platform
    (``microsoft``, ``google``) for the sentence shown."""

    code = "oauth_error"

    def __init__(self, provider: str, detail: str = "") -> None:
        self.provider = provider
        super().__init__(detail)

    @property
    def params(self) -> dict[str, str]:
        return {"provider": self.provider}


class OAuthReconnect(OAuthError, PermanentFailure):
    """The refresh token is no longer valid (``invalid_grant``: consent revoked,
    password reset, token expired): someone must sign in again."""

    code = "oauth_reconnect"


class OAuthNotConnected(OAuthError, PermanentFailure):
    """No one has signed in for this mailbox yet (no refresh token)."""

    code = "oauth_not_connected"


class OAuthNotConfigured(OAuthError, PermanentFailure):
    """The installation has no OAuth2 app (client ID) for this provider."""

    code = "oauth_not_configured"


class OAuthUnavailable(OAuthError, TemporaryFailure):
    """The token endpoint could not be reached or answered with a server error."""

    code = "oauth_unavailable"


class OAuthTenantUnknown(OAuthError, PermanentFailure):
    """The identity platform does not know the tenant (directory) asked for."""

    code = "oauth_tenant_unknown"

    def __init__(self, provider: str, tenant: str, detail: str = "") -> None:
        self.tenant = tenant
        super().__init__(provider, detail)

    @property
    def params(self) -> dict[str, str]:
        return {"provider": self.provider, "tenant": self.tenant}


class OAuthClientRefused(OAuthError, PermanentFailure):
    """The identity platform refused the installation's app (client ID or secret)."""

    code = "oauth_client_refused"


class OAuthRefused(OAuthError, PermanentFailure):
    """Any other refusal; ``error`` is the OAuth2 error name (``unauthorized_client``…)."""

    code = "oauth_refused"

    def __init__(self, provider: str, error: str, detail: str = "") -> None:
        self.error = error
        super().__init__(provider, detail)

    @property
    def params(self) -> dict[str, str]:
        return {"provider": self.provider, "error": self.error}
