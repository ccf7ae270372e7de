"""Places on the e-mail manager's pages where the apps above ``mailboxes`` add a part.

``fetching``, ``dnschecks`` and ``messages`` import ``mailboxes``, so ``mailboxes``
never imports them (``tests/test_layers.py`` keeps it that way). Instead each of
them registers its part here from its ``AppConfig.ready``: the DNS warning in the
list of mailboxes, the repair section on the mailbox page. A change in one of
those apps never has to look upward, and the pages still show everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from postkamer.mailboxes.models import Mailbox


@dataclass(frozen=True)
class ListMark:
    """Something shown next to a mailbox's name in the list of mailboxes.

    ``annotate`` adds what the mark needs to the list's queryset (one subquery,
    not a query per row); ``template`` is included per row with ``mailbox``;
    ``stylesheet`` (a static path) is linked once on the page.
    """

    annotate: Callable[[QuerySet[Mailbox]], QuerySet[Mailbox]]
    template: str
    stylesheet: str = ""


@dataclass(frozen=True)
class PageSection:
    """A section below the settings on a mailbox's page.

    ``context(request, mailbox, page)`` returns the section's variables, or None
    when this user does not see it; ``page`` is the page's own context (a view
    that re-shows the page with a bound form of the section passes it there).
    ``template`` is included with ``section`` set to those variables.
    """

    template: str
    context: Callable[[HttpRequest, Mailbox, Mapping[str, Any]], dict[str, Any] | None]


list_marks: list[ListMark] = []
page_sections: list[PageSection] = []


def add_list_mark(mark: ListMark) -> None:
    if mark not in list_marks:  # ready() may run twice (tests, reloads)
        list_marks.append(mark)


def add_page_section(section: PageSection) -> None:
    if section not in page_sections:
        page_sections.append(section)


def marked(mailboxes: QuerySet[Mailbox]) -> QuerySet[Mailbox]:
    """``mailboxes`` with what every list mark needs."""
    for mark in list_marks:
        mailboxes = mark.annotate(mailboxes)
    return mailboxes


def sections(request: HttpRequest, mailbox: Mailbox, page: Mapping[str, Any]) -> list[dict]:
    """The sections this user sees on ``mailbox``'s page, each ``{"template", "vars"}``."""
    shown = []
    for section in page_sections:
        variables = section.context(request, mailbox, page)
        if variables is not None:
            shown.append({"template": section.template, "vars": variables})
    return shown
