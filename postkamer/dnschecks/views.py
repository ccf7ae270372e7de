"""Beheer -> E-mailmanager -> mailbox -> Beveiliging: the sender domain's SPF, DKIM and DMARC."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from postkamer.dnschecks import services
from postkamer.dnschecks.services import STATUS_LABELS
from postkamer.mailboxes import access
from postkamer.mailboxes.guards import mailbox_manager_required
from postkamer.mailboxes.tabs import mailbox_tabs

_LABELS = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC"}
# What the status means for someone who does not know DNS.
_STATUS_SUMMARY = {
    "ok": _("This record is in order."),
    "warning": _("This record works, but can be better."),
    "error": _("This record is missing or wrong: mail may be rejected or forged."),
    "unknown": _("Could not check; try again later."),
}
_STATUS_ICON = {"ok": "✓", "warning": "!", "error": "✗", "unknown": "?"}


def _verdicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in services.RECORDS:
        verdict = data[key]
        status = verdict.get("status", "unknown")
        if status not in STATUS_LABELS:
            status = "unknown"
        rows.append(
            {
                "key": key,
                "label": _LABELS[key],
                "status": status,
                "status_label": STATUS_LABELS[status],
                "summary": _STATUS_SUMMARY[status],
                "icon": _STATUS_ICON[status],
                "record": verdict.get("record"),
                "problems": verdict.get("problems", []),
                "advice": verdict.get("advice", []),
            }
        )
    return rows


@mailbox_manager_required
def mailbox_security(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
    selector_error = None
    selector_value = mailbox.dkim_selector
    if request.method == "POST":
        if "dkim_selector" in request.POST:
            selector_value = request.POST["dkim_selector"].strip()
            selector_error = services.selector_problem(selector_value)
        if selector_error is None:
            services.set_selector(mailbox, selector_value, request.user)
            services.run_check(mailbox)
            # Redirect, so reloading the page does not check again.
            return redirect("mailbox-security", pk=mailbox.pk)
    latest = services.latest_check(mailbox)
    if latest is None:
        # The first check is quick (short DNS time-outs), and a tab that opens
        # empty would only make the manager press a button.
        latest = services.run_check(mailbox)
    data = services.report_data(latest)
    return render(
        request,
        "mailboxes/security.html",
        {
            "mailbox": mailbox,
            "check": latest,
            "domain": data["domain"],
            "verdicts": _verdicts(data),
            "selectors_in_use": latest.selectors_in_use,
            "selector_value": selector_value,
            "selector_error": selector_error,
            "tabs": mailbox_tabs(mailbox, "security"),
        },
        status=400 if selector_error else 200,
    )
