"""English sentences for the problem and advice codes of :mod:`postkamer.mail.dnsauth`.

``MESSAGES`` is the single source of the English text and of the gettext
msgids: one sentence per code, with ``%(name)s`` placeholders (the gettext
``python-format`` style, so ``msgfmt --check`` guards the translations) filled
from the code's params. Django-free: the sentences are marked with a local
:func:`gettext_noop`, which Django's ``makemessages`` extracts by name; the web
layer translates them with ``gettext(MESSAGES[code])``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postkamer.mail.dnsauth.verdicts import DomainReport


def gettext_noop(message: str) -> str:
    """Return ``message`` unchanged; only marks it for ``makemessages``."""
    return message


MESSAGES: dict[str, str] = {
    # --- shared problems ---
    "dns_failure": gettext_noop(
        "Could not check: the DNS lookup of %(name)s failed (%(reason)s). Try again later."
    ),
    "check_failed": gettext_noop(
        "Could not check because of an internal error (%(reason)s). Try again later."
    ),
    "domain_not_found": gettext_noop("The domain %(domain)s does not exist in DNS."),
    "domain_invalid": gettext_noop("'%(domain)s' is not a valid domain name."),
    # --- SPF problems ---
    "spf_missing": gettext_noop("The domain %(domain)s has no SPF record."),
    "spf_multiple_records": gettext_noop(
        "The domain %(domain)s has %(count)s SPF records; only one is allowed, "
        "so receivers treat SPF as broken."
    ),
    "spf_syntax_error": gettext_noop(
        "The SPF record of %(domain)s contains an invalid term: %(term)s"
    ),
    "spf_too_many_lookups": gettext_noop(
        "The SPF record needs %(count)s DNS lookups (includes, a, mx, ptr, exists, redirect); "
        "at most %(limit)s are allowed, so receivers treat SPF as broken."
    ),
    "spf_too_many_void_lookups": gettext_noop(
        "The SPF record has %(count)s lookups that find nothing; at most %(limit)s are allowed."
    ),
    "spf_too_many_mx": gettext_noop(
        "The mx mechanism for %(domain)s finds %(count)s mail servers; at most 10 are allowed."
    ),
    "spf_include_loop": gettext_noop("The SPF record includes %(domain)s in a loop."),
    "spf_include_missing": gettext_noop(
        "The SPF record includes or redirects to %(domain)s, which has no SPF record."
    ),
    "spf_include_multiple_records": gettext_noop(
        "The SPF record includes %(domain)s, which has more than one SPF record."
    ),
    "spf_pass_all": gettext_noop(
        "The SPF record ends in '+all', which allows the whole internet to send."
    ),
    "spf_neutral_all": gettext_noop(
        "The SPF record ends in '?all', which does not protect the domain."
    ),
    "spf_no_all": gettext_noop("The SPF record does not end in '-all' or '~all'."),
    "spf_ptr_used": gettext_noop(
        "The SPF record of %(domain)s uses the 'ptr' mechanism, which is slow and discouraged."
    ),
    "spf_provider_missing": gettext_noop(
        "The SPF record does not include %(include)s, so mail sent through the mail "
        "service is not authorised."
    ),
    "spf_ip_not_authorised": gettext_noop(
        "The SPF record does not authorise the mail server %(ip)s (result: %(result)s)."
    ),
    "spf_ip_undecided": gettext_noop(
        "Could not determine whether the SPF record authorises the mail server %(ip)s."
    ),
    # --- DKIM problems ---
    "dkim_missing_selector": gettext_noop("The DKIM record %(name)s does not exist."),
    "dkim_selector_not_found": gettext_noop(
        "No DKIM key was found for selector '%(selector)s' (%(name)s)."
    ),
    "dkim_not_found": gettext_noop(
        "No DKIM key was found under the usual selectors (%(selectors)s)."
    ),
    "dkim_cname_target_missing": gettext_noop(
        "The DKIM record for selector '%(selector)s' points to %(target)s, which does not exist."
    ),
    "dkim_key_revoked": gettext_noop("The DKIM key of selector '%(selector)s' is empty (revoked)."),
    "dkim_key_invalid": gettext_noop("The DKIM key of selector '%(selector)s' cannot be read."),
    "dkim_syntax_error": gettext_noop(
        "The DKIM record of selector '%(selector)s' is invalid (tag '%(tag)s')."
    ),
    "dkim_key_too_short": gettext_noop(
        "The DKIM key of selector '%(selector)s' has only %(bits)s bits; at least 1024 are "
        "required, so receivers ignore it."
    ),
    "dkim_key_weak": gettext_noop(
        "The DKIM key of selector '%(selector)s' has %(bits)s bits; 2048 bits are recommended."
    ),
    "dkim_unknown_key_type": gettext_noop(
        "The DKIM record of selector '%(selector)s' uses an unknown key type '%(type)s'."
    ),
    "dkim_testing_mode": gettext_noop(
        "The DKIM key of selector '%(selector)s' is marked as testing (t=y)."
    ),
    # --- DMARC problems ---
    "dmarc_missing": gettext_noop("The domain %(domain)s has no DMARC record."),
    "dmarc_multiple_records": gettext_noop(
        "%(name)s has %(count)s DMARC records; only one is allowed, so receivers ignore DMARC."
    ),
    "dmarc_syntax_error": gettext_noop("The DMARC record has an invalid tag: %(tag)s=%(value)s"),
    "dmarc_policy_none": gettext_noop(
        "The DMARC policy is 'none': monitoring only, forged mail is still delivered."
    ),
    "dmarc_no_rua": gettext_noop("The DMARC record asks for no reports (no rua= address)."),
    "dmarc_pct_partial": gettext_noop("The DMARC policy applies to only %(pct)s%% of the mail."),
    # --- shared advice ---
    "try_again_later": gettext_noop("The check could not be completed; check again later."),
    "check_domain_name": gettext_noop(
        "Check the spelling of %(domain)s in the sender address, or ask the ICT "
        "administrator whether the domain is registered."
    ),
    # --- SPF advice ---
    "spf_add_record": gettext_noop("Ask the ICT administrator to add this TXT record to %(name)s."),
    "spf_merge_records": gettext_noop(
        "Ask the ICT administrator to replace the SPF records of %(name)s by this single record."
    ),
    "spf_fix_syntax": gettext_noop(
        "Ask the ICT administrator to correct or remove '%(term)s' in the SPF record."
    ),
    "spf_reduce_lookups": gettext_noop(
        "Ask the ICT administrator to reduce the SPF record from %(count)s to at most %(limit)s "
        "lookups, for example by removing includes of services that are no longer used."
    ),
    "spf_remove_void_lookups": gettext_noop(
        "Ask the ICT administrator to remove SPF terms that find nothing: %(terms)s"
    ),
    "spf_fix_include_loop": gettext_noop(
        "Ask the ICT administrator to remove the include loop through %(domain)s."
    ),
    "spf_fix_include": gettext_noop(
        "Ask the ICT administrator to check the include of %(domain)s in the SPF record."
    ),
    "spf_end_with_fail_all": gettext_noop(
        "Ask the ICT administrator to end the SPF record of %(name)s with '-all', as below."
    ),
    "spf_replace_ptr": gettext_noop(
        "Ask the ICT administrator to replace 'ptr' in the SPF record of %(domain)s by ip4/ip6 terms."
    ),
    "spf_add_include": gettext_noop(
        "Ask the ICT administrator to add 'include:%(include)s' to the SPF record of %(name)s, "
        "as below."
    ),
    "spf_authorise_ip": gettext_noop(
        "Ask the ICT administrator to authorise the mail server %(ip)s in the SPF record of "
        "%(name)s, as below."
    ),
    "spf_check_ip_manually": gettext_noop(
        "Ask the ICT administrator to confirm that the SPF record authorises the mail server %(ip)s."
    ),
    # --- DKIM advice ---
    "dkim_add_o365_cname": gettext_noop(
        "Ask the ICT administrator to add a CNAME record %(name)s pointing to the value below "
        "(the exact value is shown in Microsoft Defender under DKIM), then enable DKIM signing."
    ),
    "dkim_enable_o365": gettext_noop(
        "Ask the ICT administrator to enable DKIM signing for the domain in Microsoft Defender "
        "(Email authentication settings, DKIM)."
    ),
    "dkim_publish_key": gettext_noop(
        "Ask the ICT administrator to enable DKIM signing at the mail provider and publish "
        "its public key at %(name)s."
    ),
    "dkim_enter_selector": gettext_noop(
        "If you know the DKIM selector your mail provider uses, enter it so it can be checked."
    ),
    "dkim_replace_key": gettext_noop(
        "Ask the ICT administrator to replace the DKIM key of selector '%(selector)s' "
        "(%(bits)s bits) by a 2048-bit key."
    ),
    "dkim_fix_record": gettext_noop(
        "Ask the ICT administrator to publish the DKIM record %(name)s again, exactly as the "
        "mail provider supplies it."
    ),
    "dkim_end_testing": gettext_noop(
        "Ask the ICT administrator to remove 't=y' from the DKIM record %(name)s once signing works."
    ),
    # --- DMARC advice ---
    "dmarc_add_record": gettext_noop(
        "Ask the ICT administrator to add this TXT record at %(name)s (replace the report "
        "address by a mailbox you read). Use p=none for a few weeks first if you are not "
        "sure that SPF and DKIM cover every service that sends mail for you."
    ),
    "dmarc_merge_records": gettext_noop(
        "Ask the ICT administrator to keep only one DMARC record at %(name)s, for example this one."
    ),
    "dmarc_fix_syntax": gettext_noop(
        "Ask the ICT administrator to correct the DMARC record at %(name)s, as below."
    ),
    "dmarc_raise_policy": gettext_noop(
        "When the DMARC reports show that all your mail passes, ask the ICT administrator to "
        "change the policy at %(name)s to quarantine, as below."
    ),
    "dmarc_add_rua": gettext_noop(
        "Ask the ICT administrator to add a report address (rua) to the DMARC record at %(name)s, "
        "as below (replace the address by a mailbox you read)."
    ),
    "dmarc_remove_pct": gettext_noop(
        "Ask the ICT administrator to remove 'pct' from the DMARC record at %(name)s, so the "
        "policy applies to all mail."
    ),
    "dmarc_explain_alignment": gettext_noop(
        "Alignment: DKIM is %(adkim)s and SPF is %(aspf)s. Relaxed means the signing or sending "
        "domain may be a subdomain of the sender's domain; strict means it must be the same."
    ),
    "dmarc_explain_subdomain_policy": gettext_noop(
        "Subdomains of the domain get the policy '%(sp)s'."
    ),
    "dmarc_inherited": gettext_noop(
        "The domain has no DMARC record of its own; the record of the organisational domain "
        "%(org_domain)s (%(name)s) applies."
    ),
}


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        # A param the caller forgot should show up, not crash rendering.
        return "%(" + key + ")s"


def fill(template: str, params: Mapping[str, Any] | None = None) -> str:
    """Return ``template`` (a sentence of ``MESSAGES`` or its translation) with
    ``params`` filled in; a missing param stays as ``%(name)s``. Raises nothing."""
    try:
        return template % _KeepMissing(params or {})
    except (ValueError, TypeError, KeyError):
        # A broken translation must not break the page: show it unfilled.
        return template


def describe(code: str, params: Mapping[str, Any] | None = None) -> str:
    """Return the English sentence for ``code`` with ``params`` filled in.

    An unknown code returns the code itself; a missing param stays as
    ``%(name)s``. Raises nothing.
    """
    template = MESSAGES.get(code)
    if template is None:
        return code
    return fill(template, params)


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
