"""SPF, DKIM and DMARC checks of a sender domain (the "Beveiliging" tab).

Everything here is Django-free. Results carry stable ``code`` strings and
parameters instead of prose, so the web layer can translate them; the English
sentences live in :mod:`postkamer.mail.dnsauth.text`.

No DNS or parse problem is ever raised to the caller: a domain that does not
exist or a broken record gives an ``error`` verdict, a resolver that fails or
times out gives ``unknown``.

The modules: ``verdicts`` (result types, problem and advice codes), ``lookup``
(the resolver and per-check cached lookups), ``spf``, ``dkim``, ``dmarc`` (one
record type each), ``selectors`` (the DKIM selectors stored mail proves in
use), ``check`` (:func:`check_domain`, the three side by side) and ``text``.
The names callers use are importable from here.
"""

from __future__ import annotations

from postkamer.mail.dnsauth.check import PROVIDERS, check_domain
from postkamer.mail.dnsauth.dkim import (
    KNOWN_DKIM_SELECTORS,
    O365_DKIM_SELECTORS,
    SELECTOR_MAX_LENGTH,
    is_valid_selector,
    parse_dkim_key,
)
from postkamer.mail.dnsauth.dmarc import organisational_domain, parse_dmarc
from postkamer.mail.dnsauth.lookup import make_resolver
from postkamer.mail.dnsauth.selectors import (
    StoredMail,
    selectors_from_headers,
    selectors_in_mail,
)
from postkamer.mail.dnsauth.spf import (
    KNOWN_PROVIDERS,
    O365_SPF_INCLUDE,
    SPF_LOOKUP_LIMIT,
    SPF_VOID_LIMIT,
    is_spf_record,
    parse_spf,
    spf_with_term,
)
from postkamer.mail.dnsauth.verdicts import (
    ADVICE_CODES,
    ERROR,
    OK,
    PROBLEM_SEVERITY,
    UNKNOWN,
    WARNING,
    Advice,
    DomainReport,
    Problem,
    Verdict,
)

__all__ = [
    "ADVICE_CODES",
    "ERROR",
    "KNOWN_DKIM_SELECTORS",
    "KNOWN_PROVIDERS",
    "O365_DKIM_SELECTORS",
    "O365_SPF_INCLUDE",
    "OK",
    "PROBLEM_SEVERITY",
    "PROVIDERS",
    "SELECTOR_MAX_LENGTH",
    "SPF_LOOKUP_LIMIT",
    "SPF_VOID_LIMIT",
    "UNKNOWN",
    "WARNING",
    "Advice",
    "DomainReport",
    "Problem",
    "StoredMail",
    "Verdict",
    "check_domain",
    "is_spf_record",
    "is_valid_selector",
    "make_resolver",
    "organisational_domain",
    "parse_dkim_key",
    "parse_dmarc",
    "parse_spf",
    "selectors_from_headers",
    "selectors_in_mail",
    "spf_with_term",
]
