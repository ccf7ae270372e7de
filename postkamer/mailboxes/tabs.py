"""The tabs of a mailbox page. Later features add their tab with one line here."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from postkamer.mailboxes.models import Mailbox


@dataclass(frozen=True)
class Tab:
    key: str
    label: str | Promise
    url_name: str  # takes the mailbox's ``pk``


TABS: list[Tab] = [
    Tab("general", _("General"), "mailbox-edit"),
    Tab("owners", _("Owner"), "mailbox-owners-tab"),
    Tab("template", _("Template"), "mailbox-template"),
    Tab("auto_reply", _("Automatic reply"), "mailbox-auto-reply"),
    Tab("security", _("Security"), "mailbox-security"),
    Tab("log", _("Log"), "mailbox-log"),
]


def mailbox_tabs(mailbox: Mailbox | None, active: str) -> list[dict[str, object]]:
    """The tab bar for ``mailbox`` with ``active`` marked; empty for a new mailbox."""
    if mailbox is None or mailbox.pk is None:
        return []
    return [
        {
            "key": tab.key,
            "label": tab.label,
            "url": reverse(tab.url_name, kwargs={"pk": mailbox.pk}),
            "active": tab.key == active,
        }
        for tab in TABS
    ]
