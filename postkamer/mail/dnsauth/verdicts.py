"""The result types of the checks: verdicts made of problem and advice codes.

A problem or an advice is a stable ``code`` with parameters, never a sentence:
the web layer translates codes (the English sentences are in :mod:`.text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postkamer.mail.dnsauth.text import describe

OK = "ok"
WARNING = "warning"
ERROR = "error"
UNKNOWN = "unknown"

#: Severity of every problem code the checker can emit. ``unknown`` means
#: "could not check", never "wrong".
PROBLEM_SEVERITY: dict[str, str] = {
    # Shared by the three checks.
    "dns_failure": UNKNOWN,
    "check_failed": UNKNOWN,
    "domain_not_found": ERROR,
    "domain_invalid": ERROR,
    # SPF
    "spf_missing": ERROR,
    "spf_multiple_records": ERROR,
    "spf_syntax_error": ERROR,
    "spf_too_many_lookups": ERROR,
    "spf_too_many_void_lookups": ERROR,
    "spf_too_many_mx": ERROR,
    "spf_include_loop": ERROR,
    "spf_include_missing": ERROR,
    "spf_include_multiple_records": ERROR,
    "spf_pass_all": ERROR,
    "spf_neutral_all": WARNING,
    "spf_no_all": WARNING,
    "spf_ptr_used": WARNING,
    "spf_provider_missing": ERROR,
    "spf_ip_not_authorised": ERROR,
    "spf_ip_undecided": WARNING,
    # DKIM
    "dkim_missing_selector": ERROR,
    "dkim_selector_not_found": ERROR,
    "dkim_not_found": WARNING,
    "dkim_cname_target_missing": WARNING,
    "dkim_key_revoked": ERROR,
    "dkim_key_invalid": ERROR,
    "dkim_syntax_error": ERROR,
    "dkim_key_too_short": ERROR,
    "dkim_key_weak": WARNING,
    "dkim_unknown_key_type": ERROR,
    "dkim_testing_mode": WARNING,
    # DMARC
    "dmarc_missing": ERROR,
    "dmarc_multiple_records": ERROR,
    "dmarc_syntax_error": ERROR,
    "dmarc_policy_none": WARNING,
    "dmarc_no_rua": WARNING,
    "dmarc_pct_partial": WARNING,
}

#: Every advice code the checker can emit.
ADVICE_CODES: frozenset[str] = frozenset(
    {
        "try_again_later",
        "check_domain_name",
        "spf_add_record",
        "spf_merge_records",
        "spf_fix_syntax",
        "spf_reduce_lookups",
        "spf_remove_void_lookups",
        "spf_fix_include_loop",
        "spf_fix_include",
        "spf_end_with_fail_all",
        "spf_replace_ptr",
        "spf_add_include",
        "spf_authorise_ip",
        "spf_check_ip_manually",
        "dkim_add_o365_cname",
        "dkim_enable_o365",
        "dkim_publish_key",
        "dkim_enter_selector",
        "dkim_replace_key",
        "dkim_fix_record",
        "dkim_end_testing",
        "dmarc_add_record",
        "dmarc_merge_records",
        "dmarc_fix_syntax",
        "dmarc_raise_policy",
        "dmarc_add_rua",
        "dmarc_remove_pct",
        "dmarc_explain_alignment",
        "dmarc_explain_subdomain_policy",
        "dmarc_inherited",
    }
)


@dataclass
class Problem:
    """Something wrong (or unchecked) about a record; ``code`` is a stable key."""

    code: str
    params: dict[str, str | int] = field(default_factory=dict)


@dataclass
class Advice:
    """What to ask the ICT administrator; ``record`` is the exact record when known."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    record: str | None = None


@dataclass
class Verdict:
    """The outcome for one record type (SPF, DKIM or DMARC)."""

    status: str
    record: str | None
    problems: list[Problem] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready shape, with English ``message`` texts added."""
        return {
            "status": self.status,
            "record": self.record,
            "problems": [
                {"code": p.code, "params": dict(p.params), "message": describe(p.code, p.params)}
                for p in self.problems
            ],
            "advice": [
                {
                    "code": a.code,
                    "params": dict(a.params),
                    "record": a.record,
                    "message": describe(a.code, a.params),
                }
                for a in self.advice
            ],
        }


@dataclass
class DomainReport:
    """The three verdicts of one domain, as shown on the security tab."""

    domain: str
    checked_at: datetime
    spf: Verdict
    dkim: Verdict
    dmarc: Verdict

    def to_dict(self) -> dict[str, Any]:
        """Return ``{checked_at, domain, spf, dkim, dmarc}``, ready for ``json.dumps``."""
        return {
            "checked_at": self.checked_at.isoformat(),
            "domain": self.domain,
            "spf": self.spf.to_dict(),
            "dkim": self.dkim.to_dict(),
            "dmarc": self.dmarc.to_dict(),
        }


def make_problem(code: str, **params: str | int) -> Problem:
    """Return a :class:`Problem`; ``code`` must be one of ``PROBLEM_SEVERITY``."""
    assert code in PROBLEM_SEVERITY, code
    return Problem(code, dict(params))


def make_advice(code: str, record: str | None = None, **params: Any) -> Advice:
    """Return an :class:`Advice`; ``code`` must be one of ``ADVICE_CODES``."""
    assert code in ADVICE_CODES, code
    return Advice(code, dict(params), record)


def status_of(problems: Sequence[Problem]) -> str:
    severities = {PROBLEM_SEVERITY[p.code] for p in problems}
    # An error found in data we did get outranks a lookup that failed; a
    # failed lookup outranks warnings, because what we missed may be worse.
    for status in (ERROR, UNKNOWN, WARNING):
        if status in severities:
            return status
    return OK


def verdict_of(record: str | None, problems: list[Problem], advice: list[Advice]) -> Verdict:
    """Return the verdict whose status is the worst of ``problems``."""
    # Advice may be derived twice (e.g. the same include for two IPs).
    unique: list[Advice] = []
    for item in advice:
        if item not in unique:
            unique.append(item)
    return Verdict(status_of(problems), record, problems, unique)


def failed_verdict(name: str, reason: str) -> Verdict:
    """Return the ``unknown`` verdict of a lookup of ``name`` that failed."""
    return verdict_of(
        None,
        [make_problem("dns_failure", name=name, reason=reason)],
        [make_advice("try_again_later")],
    )


def not_found_verdict(domain: str) -> Verdict:
    """Return the ``error`` verdict of a domain that does not exist."""
    return verdict_of(
        None,
        [make_problem("domain_not_found", domain=domain)],
        [make_advice("check_domain_name", domain=domain)],
    )
