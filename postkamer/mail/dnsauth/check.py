"""The entry point: SPF, DKIM and DMARC of one domain, checked side by side."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import dns.resolver

from postkamer.mail.dnsauth.dkim import check_dkim
from postkamer.mail.dnsauth.dmarc import check_dmarc
from postkamer.mail.dnsauth.lookup import Lookups, make_resolver, normalise_domain
from postkamer.mail.dnsauth.spf import check_spf
from postkamer.mail.dnsauth.verdicts import (
    DomainReport,
    Verdict,
    failed_verdict,
    make_advice,
    make_problem,
    verdict_of,
)

log = logging.getLogger("postkamer.mail.dnsauth")

PROVIDERS = ("imap", "office365")


def _guarded(check: Callable[[], Verdict]) -> Verdict:
    try:
        return check()
    except Exception as exc:  # a bug must not break the security tab
        log.exception("DNS authentication check failed")
        return verdict_of(
            None,
            [make_problem("check_failed", reason=type(exc).__name__)],
            [make_advice("try_again_later")],
        )


def check_domain(
    domain: str,
    *,
    provider: str = "imap",
    selectors: Sequence[str] = (),
    smtp_host_ips: Sequence[str] = (),
    smtp_host: str | None = None,
    resolver: dns.resolver.Resolver | None = None,
    timeout: float = 3.0,
) -> DomainReport:
    """Check the SPF, DKIM and DMARC records of a sender domain.

    ``provider`` is the mailbox type (``imap`` or ``office365``);
    ``selectors`` are DKIM selectors to try first (entered by the
    administrator or found with :func:`~.selectors.selectors_in_mail`; only
    the first few valid ones are looked up);
    ``smtp_host_ips`` are the addresses of the mailbox's SMTP server, which
    SPF must authorise; ``smtp_host`` (optional) is its host name, used to
    recognise a known provider and, without ``smtp_host_ips``, to look the
    addresses up. All lookups share one ``timeout`` (seconds).

    Returns a :class:`DomainReport`. Never raises for DNS or parse problems:
    they become ``error`` (the data is wrong) or ``unknown`` (could not ask).
    """
    checked_at = datetime.now(UTC)
    name = normalise_domain(domain)
    if name is None:
        shown = str(domain).strip()

        def invalid() -> Verdict:
            return verdict_of(
                None,
                [make_problem("domain_invalid", domain=shown)],
                [make_advice("check_domain_name", domain=shown)],
            )

        return DomainReport(shown, checked_at, invalid(), invalid(), invalid())
    provider = provider.lower() if provider and provider.lower() in PROVIDERS else "imap"
    if resolver is None:
        try:
            resolver = make_resolver(None, timeout)
        except Exception as exc:  # no resolv.conf and friends
            failed = failed_verdict(name, type(exc).__name__)
            return DomainReport(name, checked_at, failed, failed, failed)

    started = time.monotonic()
    lookups = Lookups(resolver, timeout, started + timeout)
    checks: dict[str, Callable[[], Verdict]] = {
        "spf": lambda: check_spf(lookups, name, provider, smtp_host, smtp_host_ips),
        "dkim": lambda: check_dkim(lookups, name, provider, selectors),
        "dmarc": lambda: check_dmarc(lookups, name),
    }
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="dnsauth")
    try:
        futures = {key: pool.submit(_guarded, check) for key, check in checks.items()}
        # Every lookup stops at the shared deadline; the margin covers the
        # time a thread needs to notice it.
        concurrent.futures.wait(futures.values(), timeout=timeout + 1.0)
        verdicts: dict[str, Verdict] = {}
        for key, future in futures.items():
            if future.done():
                verdicts[key] = future.result()
            else:
                verdicts[key] = failed_verdict(name, "timeout")
    finally:
        # Do not wait for a straggler: its lookups end at the deadline anyway.
        pool.shutdown(wait=False, cancel_futures=True)
    return DomainReport(name, checked_at, verdicts["spf"], verdicts["dkim"], verdicts["dmarc"])
