"""English sentences for the problem and advice codes of :mod:`postkamer.mail.dnsauth`.

``MESSAGES`` is the single source of the English text (and later the gettext
msgids): one sentence per code, with ``{name}`` placeholders filled from the
code's params. Django-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postkamer.mail.dnsauth import DomainReport

MESSAGES: dict[str, str] = {
    # --- shared problems ---
    "dns_failure": (
        "Could not check: the DNS lookup of {name} failed ({reason}). Try again later."
    ),
    "check_failed": "Could not check because of an internal error ({reason}). Try again later.",
    "domain_not_found": "The domain {domain} does not exist in DNS.",
    "domain_invalid": "'{domain}' is not a valid domain name.",
    # --- SPF problems ---
    "spf_missing": "The domain {domain} has no SPF record.",
    "spf_multiple_records": (
        "The domain {domain} has {count} SPF records; only one is allowed, "
        "so receivers treat SPF as broken."
    ),
    "spf_syntax_error": "The SPF record of {domain} contains an invalid term: {term}",
    "spf_too_many_lookups": (
        "The SPF record needs {count} DNS lookups (includes, a, mx, ptr, exists, redirect); "
        "at most {limit} are allowed, so receivers treat SPF as broken."
    ),
    "spf_too_many_void_lookups": (
        "The SPF record has {count} lookups that find nothing; at most {limit} are allowed."
    ),
    "spf_too_many_mx": (
        "The mx mechanism for {domain} finds {count} mail servers; at most 10 are allowed."
    ),
    "spf_include_loop": "The SPF record includes {domain} in a loop.",
    "spf_include_missing": (
        "The SPF record includes or redirects to {domain}, which has no SPF record."
    ),
    "spf_include_multiple_records": (
        "The SPF record includes {domain}, which has more than one SPF record."
    ),
    "spf_pass_all": "The SPF record ends in '+all', which allows the whole internet to send.",
    "spf_neutral_all": "The SPF record ends in '?all', which does not protect the domain.",
    "spf_no_all": "The SPF record does not end in '-all' or '~all'.",
    "spf_ptr_used": (
        "The SPF record of {domain} uses the 'ptr' mechanism, which is slow and discouraged."
    ),
    "spf_provider_missing": (
        "The SPF record does not include {include}, so mail sent through the mail "
        "service is not authorised."
    ),
    "spf_ip_not_authorised": (
        "The SPF record does not authorise the mail server {ip} (result: {result})."
    ),
    "spf_ip_undecided": (
        "Could not determine whether the SPF record authorises the mail server {ip}."
    ),
    # --- DKIM problems ---
    "dkim_missing_selector": "The DKIM record {name} does not exist.",
    "dkim_selector_not_found": "No DKIM key was found for selector '{selector}' ({name}).",
    "dkim_not_found": "No DKIM key was found under the usual selectors ({selectors}).",
    "dkim_cname_target_missing": (
        "The DKIM record for selector '{selector}' points to {target}, which does not exist."
    ),
    "dkim_key_revoked": "The DKIM key of selector '{selector}' is empty (revoked).",
    "dkim_key_invalid": "The DKIM key of selector '{selector}' cannot be read.",
    "dkim_syntax_error": ("The DKIM record of selector '{selector}' is invalid (tag '{tag}')."),
    "dkim_key_too_short": (
        "The DKIM key of selector '{selector}' has only {bits} bits; at least 1024 are "
        "required, so receivers ignore it."
    ),
    "dkim_key_weak": (
        "The DKIM key of selector '{selector}' has {bits} bits; 2048 bits are recommended."
    ),
    "dkim_unknown_key_type": (
        "The DKIM record of selector '{selector}' uses an unknown key type '{type}'."
    ),
    "dkim_testing_mode": "The DKIM key of selector '{selector}' is marked as testing (t=y).",
    # --- DMARC problems ---
    "dmarc_missing": "The domain {domain} has no DMARC record.",
    "dmarc_multiple_records": (
        "{name} has {count} DMARC records; only one is allowed, so receivers ignore DMARC."
    ),
    "dmarc_syntax_error": "The DMARC record has an invalid tag: {tag}={value}",
    "dmarc_policy_none": (
        "The DMARC policy is 'none': monitoring only, forged mail is still delivered."
    ),
    "dmarc_no_rua": "The DMARC record asks for no reports (no rua= address).",
    "dmarc_pct_partial": "The DMARC policy applies to only {pct}% of the mail.",
    # --- shared advice ---
    "try_again_later": "The check could not be completed; check again later.",
    "check_domain_name": (
        "Check the spelling of {domain} in the sender address, or ask the ICT "
        "administrator whether the domain is registered."
    ),
    # --- SPF advice ---
    "spf_add_record": "Ask the ICT administrator to add this TXT record to {name}.",
    "spf_merge_records": (
        "Ask the ICT administrator to replace the SPF records of {name} by this single record."
    ),
    "spf_fix_syntax": "Ask the ICT administrator to correct or remove '{term}' in the SPF record.",
    "spf_reduce_lookups": (
        "Ask the ICT administrator to reduce the SPF record from {count} to at most {limit} "
        "lookups, for example by removing includes of services that are no longer used."
    ),
    "spf_remove_void_lookups": (
        "Ask the ICT administrator to remove SPF terms that find nothing: {terms}"
    ),
    "spf_fix_include_loop": (
        "Ask the ICT administrator to remove the include loop through {domain}."
    ),
    "spf_fix_include": (
        "Ask the ICT administrator to check the include of {domain} in the SPF record."
    ),
    "spf_end_with_fail_all": (
        "Ask the ICT administrator to end the SPF record of {name} with '-all', as below."
    ),
    "spf_replace_ptr": (
        "Ask the ICT administrator to replace 'ptr' in the SPF record of {domain} by ip4/ip6 terms."
    ),
    "spf_add_include": (
        "Ask the ICT administrator to add 'include:{include}' to the SPF record of {name}, "
        "as below."
    ),
    "spf_authorise_ip": (
        "Ask the ICT administrator to authorise the mail server {ip} in the SPF record of "
        "{name}, as below."
    ),
    "spf_check_ip_manually": (
        "Ask the ICT administrator to confirm that the SPF record authorises the mail server {ip}."
    ),
    # --- DKIM advice ---
    "dkim_add_o365_cname": (
        "Ask the ICT administrator to add a CNAME record {name} pointing to the value below "
        "(the exact value is shown in Microsoft Defender under DKIM), then enable DKIM signing."
    ),
    "dkim_enable_o365": (
        "Ask the ICT administrator to enable DKIM signing for the domain in Microsoft Defender "
        "(Email authentication settings, DKIM)."
    ),
    "dkim_publish_key": (
        "Ask the ICT administrator to enable DKIM signing at the mail provider and publish "
        "its public key at {name}."
    ),
    "dkim_enter_selector": (
        "If you know the DKIM selector your mail provider uses, enter it so it can be checked."
    ),
    "dkim_replace_key": (
        "Ask the ICT administrator to replace the DKIM key of selector '{selector}' "
        "({bits} bits) by a 2048-bit key."
    ),
    "dkim_fix_record": (
        "Ask the ICT administrator to publish the DKIM record {name} again, exactly as the "
        "mail provider supplies it."
    ),
    "dkim_end_testing": (
        "Ask the ICT administrator to remove 't=y' from the DKIM record {name} once signing works."
    ),
    # --- DMARC advice ---
    "dmarc_add_record": (
        "Ask the ICT administrator to add this TXT record at {name} (replace the report "
        "address by a mailbox you read). Use p=none for a few weeks first if you are not "
        "sure that SPF and DKIM cover every service that sends mail for you."
    ),
    "dmarc_merge_records": (
        "Ask the ICT administrator to keep only one DMARC record at {name}, for example this one."
    ),
    "dmarc_fix_syntax": "Ask the ICT administrator to correct the DMARC record at {name}, as below.",
    "dmarc_raise_policy": (
        "When the DMARC reports show that all your mail passes, ask the ICT administrator to "
        "change the policy at {name} to quarantine, as below."
    ),
    "dmarc_add_rua": (
        "Ask the ICT administrator to add a report address (rua) to the DMARC record at {name}, "
        "as below (replace the address by a mailbox you read)."
    ),
    "dmarc_remove_pct": (
        "Ask the ICT administrator to remove 'pct' from the DMARC record at {name}, so the "
        "policy applies to all mail."
    ),
    "dmarc_explain_alignment": (
        "Alignment: DKIM is {adkim} and SPF is {aspf}. Relaxed means the signing or sending "
        "domain may be a subdomain of the sender's domain; strict means it must be the same."
    ),
    "dmarc_explain_subdomain_policy": "Subdomains of the domain get the policy '{sp}'.",
    "dmarc_inherited": (
        "The domain has no DMARC record of its own; the record of the organisational domain "
        "{org_domain} ({name}) applies."
    ),
}


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        # A param the caller forgot should show up, not crash rendering.
        return "{" + key + "}"


def describe(code: str, params: Mapping[str, Any] | None = None) -> str:
    """Return the English sentence for ``code`` with ``params`` filled in.

    An unknown code returns the code itself; a missing param stays as
    ``{name}``. Raises nothing.
    """
    template = MESSAGES.get(code)
    if template is None:
        return code
    try:
        return template.format_map(_KeepMissing(params or {}))
    except (ValueError, IndexError, AttributeError):
        return template


_STATUS_LABEL = {"ok": "OK", "warning": "WARNING", "error": "ERROR", "unknown": "UNKNOWN"}


def format_report(report: DomainReport) -> str:
    """Return a plain-text rendering of a report (for ``postkamer check-dns``)."""
    lines = [f"Domain: {report.domain} (checked {report.checked_at.isoformat()})"]
    for label, verdict in (("SPF", report.spf), ("DKIM", report.dkim), ("DMARC", report.dmarc)):
        lines.append("")
        lines.append(f"{label}: {_STATUS_LABEL.get(verdict.status, verdict.status)}")
        if verdict.record:
            for record_line in verdict.record.splitlines():
                lines.append(f"  record: {record_line}")
        for problem in verdict.problems:
            lines.append(f"  - {describe(problem.code, problem.params)}")
        for advice in verdict.advice:
            lines.append(f"  > {describe(advice.code, advice.params)}")
            if advice.record:
                lines.append(f"      {advice.record}")
    return "\n".join(lines)
