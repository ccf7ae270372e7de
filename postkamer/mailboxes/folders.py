"""IMAP mappen ophalen: read the server's folders for the sent/junk choice (docs/product.md, The mailbox)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from postkamer.crypto import SecretUnreadable
from postkamer.mail import imap
from postkamer.mail.errors import MailError
from postkamer.mailboxes.connection import connect_options, describe_error, imap_settings
from postkamer.mailboxes.models import Mailbox

SENT = "\\Sent"
JUNK = "\\Junk"


@dataclass
class FolderListing:
    """The folders, or the plain-words reason why they could not be read."""

    folders: list[imap.Folder] = field(default_factory=list)
    error: str = ""
    error_code: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def selectable_names(self) -> list[str]:
        return [f.name for f in self.folders if f.selectable]

    def suggested(self, flag: str) -> str | None:
        """The first selectable folder the server flags ``flag`` (RFC 6154), or None."""
        return next((f.name for f in self.folders if f.special_use == flag and f.selectable), None)

    def missing(self, name: str) -> bool:
        """True when ``name`` is set but no longer a selectable folder on the server."""
        return bool(name) and self.ok and name not in self.selectable_names


def read_folders(mailbox: Mailbox) -> FolderListing:
    """Log in with the mailbox's stored settings and LIST its folders, all within
    one mail deadline (it runs inside a web request); never raises for server
    trouble."""
    options = connect_options()
    try:
        # An OAuth2 mailbox may need its token refreshed first: that has its own
        # time-outs, and the deadline starts after it.
        server = imap_settings(mailbox)
        deadline = options.new_deadline(f"{server.host}:{server.port}")
        conn = imap.connect(server, options, deadline)
    except MailError as error:
        return FolderListing(error=describe_error(error), error_code=error.code)
    except SecretUnreadable:
        return FolderListing(
            error=_("The stored password cannot be read. Enter the password again."),
            error_code="secret_unreadable",
        )
    try:
        folders = imap.list_folders(conn, deadline)
    except MailError as error:
        return FolderListing(error=describe_error(error), error_code=error.code)
    finally:
        # The folders are read (or the error is known); a failed or slow goodbye
        # changes nothing.
        with contextlib.suppress(Exception), imap.bounded(conn, deadline):
            conn.logout()
    return FolderListing(folders=folders)


def missing_message(name: str) -> str:
    return _("The folder '%(folder)s' no longer exists on the server. Choose another one.") % {
        "folder": name
    }
