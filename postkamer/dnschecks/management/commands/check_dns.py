"""``postkamer check-dns DOMAIN``: the SPF/DKIM/DMARC verdicts of a domain."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _

from postkamer.dnschecks import services
from postkamer.dnschecks.services import STATUS_LABELS

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNKNOWN = 2

HELP = """Check the SPF, DKIM and DMARC records of DOMAIN and print the verdicts
(in Dutch unless --language en). --json prints the same object as the API's
mailboxes/{id}/security/. Uses POSTKAMER_DNS_RESOLVERS when set.
Exit status: 0 when no record has an error (warnings allowed), 1 when at least
one record has an error, 2 when none has an error but at least one could not
be checked (DNS time-out or failure)."""


def exit_code(data: dict[str, Any]) -> int:
    """Return the command's exit status for a report object (see ``HELP``)."""
    statuses = {data[key]["status"] for key in services.RECORDS}
    if "error" in statuses:
        return EXIT_ERROR
    if "unknown" in statuses:
        return EXIT_UNKNOWN
    return EXIT_OK


def format_text(data: dict[str, Any]) -> str:
    """Return the report object as plain text in the active language."""
    when = timezone.localtime(datetime.fromisoformat(data["checked_at"]))
    lines = [
        _("Domain: %(domain)s (checked on %(when)s)")
        % {"domain": data["domain"], "when": dateformat.format(when, "d-m-Y H:i")}
    ]
    for key in services.RECORDS:
        verdict = data[key]
        lines.append("")
        lines.append(f"{key.upper()}: {str(STATUS_LABELS[verdict['status']]).upper()}")
        for record_line in (verdict["record"] or "").splitlines():
            lines.append("  " + _("record: %(record)s") % {"record": record_line})
        for problem in verdict["problems"]:
            lines.append(f"  - {problem['message']}")
        for advice in verdict["advice"]:
            lines.append(f"  > {advice['message']}")
            if advice["record"]:
                lines.append(f"      {advice['record']}")
    return "\n".join(lines)


def _selector(value: str) -> str:
    # The rule of the security tab: a selector is looked up and printed only
    # when it is one (argparse then names the option in its message).
    problem = services.selector_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value.strip()


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument("--provider", choices=["imap", "office365"], default="imap")
        parser.add_argument(
            "--selector",
            action="append",
            default=[],
            type=_selector,
            help="a DKIM selector to check first (repeatable)",
        )
        parser.add_argument("--smtp-host", help="the SMTP server whose address SPF must allow")
        parser.add_argument("--json", action="store_true", help="print the API's JSON object")
        parser.add_argument("--language", choices=["nl", "en"], default="nl")

    def handle(self, *args: Any, **options: Any) -> None:
        report = services.check(
            options["domain"],
            provider=options["provider"],
            selectors=options["selector"],
            smtp_host=options["smtp_host"],
        )
        with translation.override(options["language"]):
            data = services.localize(report.to_dict())
            if options["json"]:
                self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            else:
                self.stdout.write(format_text(data))
        code = exit_code(data)
        if code:
            # The verdicts are the output; the status is for scripts and monitoring.
            self.stdout.flush()
            sys.exit(code)
