"""Running sender-domain checks for mailboxes and rendering them in the reader's language.

The checker itself (:mod:`postkamer.mail.dnsauth`) is Django-free and speaks
English; this module adds what needs Django: the resolver setting, the
mailbox's own mail (for the DKIM selectors in use), storage and gettext.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from postkamer.accounts.models import User
from postkamer.dnschecks.models import SecurityCheck
from postkamer.mail import mime
from postkamer.mail.dnsauth import (
    Advice,
    DomainReport,
    Problem,
    StoredMail,
    Verdict,
    check_domain,
    is_valid_selector,
    make_resolver,
    selectors_in_mail,
)
from postkamer.mail.dnsauth.selectors import MAX_VERIFIED_BYTES
from postkamer.mail.dnsauth.text import MESSAGES, fill
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import Mailbox, MailboxType
from postkamer.messages import rawstore
from postkamer.messages.models import Message

log = logging.getLogger(__name__)

RECORDS = ("spf", "dkim", "dmarc")
STATUS_LABELS = {
    "ok": pgettext_lazy("security status", "OK"),
    "warning": pgettext_lazy("security status", "warning"),
    "error": pgettext_lazy("security status", "error"),
    "unknown": pgettext_lazy("security status", "unknown"),
}
#: How many of the mailbox's newest messages from its own domain are read for
#: DKIM selectors: enough to see a key rotation, few enough to stay fast. Each
#: received one may be verified (see ``postkamer.mail.dnsauth.selectors`` for
#: the bounds on signatures, key lookups and selectors).
RECENT_MESSAGES = 20

# Param values that are words, not data, and so are translated too.
_PARAM_WORDS = {
    "strict": pgettext_lazy("DMARC alignment", "strict"),
    "relaxed": pgettext_lazy("DMARC alignment", "relaxed"),
    "timeout": pgettext_lazy("DNS failure", "no answer in time"),
    "servfail": pgettext_lazy("DNS failure", "the DNS server reported an error"),
    "no_resolver": pgettext_lazy("DNS failure", "no DNS server configured"),
    "resolver_setting": pgettext_lazy("DNS failure", "POSTKAMER_DNS_RESOLVERS is not valid"),
}
_WORD_PARAMS = ("adkim", "aspf", "reason")


def mailbox_domain(mailbox: Mailbox) -> str:
    """Return the domain of the mailbox's sender address (lower case, may be empty)."""
    return mailbox.sender_address.rpartition("@")[2].strip().lower()


def selectors_in_use(mailbox: Mailbox, domain: str) -> list[str]:
    """Return the DKIM selectors proven to sign the mailbox's recent mail from ``domain``.

    Reads the newest stored messages whose sender is at ``domain``: a copy in
    the Sent folder is ours, so its selectors count as written; a received one
    counts only when its signature verifies (anyone can write a DKIM-Signature
    header). At most a few selectors, each a valid one. No messages: ``[]``.
    """
    if not domain:
        return []
    suffix = "@" + domain
    picked: list[int] = []
    # from_addresses is a JSON list whose shape the fetcher owns; matching on its
    # text keeps this independent of that shape and of the database's JSON support.
    rows = Message.objects.filter(mailbox=mailbox).order_by("-received_at", "-pk")
    for pk, senders in rows.values_list("pk", "from_addresses")[: RECENT_MESSAGES * 10]:
        if suffix in str(senders).lower():
            picked.append(pk)
            if len(picked) == RECENT_MESSAGES:
                break
    rows = Message.objects.filter(pk__in=picked).select_related("raw").defer("text", "html")
    messages = rows.in_bulk()
    try:
        resolver = make_resolver(getattr(settings, "POSTKAMER_DNS_RESOLVERS", None))
    except Exception:
        # The check itself reports the setting; without a resolver only our own
        # sent copies can name a selector.
        resolver = None

    def stored(message: Message) -> StoredMail:
        raw = rawstore.read(message.raw)
        if message.folder == "sent":
            return StoredMail(mime.header_block(raw), ours=True)
        return StoredMail(raw)

    # Newest first, read one at a time: the search stops at the first few found.
    # Received mail too large to be verified is not even read.
    mail = (
        stored(messages[pk])
        for pk in picked
        if pk in messages
        and (messages[pk].folder == "sent" or messages[pk].size <= MAX_VERIFIED_BYTES)
    )
    return selectors_in_mail(mail, domain, resolver=resolver)


def _unknown_report(domain: str, reason: str) -> DomainReport:
    def verdict() -> Verdict:
        return Verdict(
            "unknown",
            None,
            [Problem("dns_failure", {"name": domain, "reason": reason})],
            [Advice("try_again_later")],
        )

    return DomainReport(domain, timezone.now(), verdict(), verdict(), verdict())


def check(
    domain: str,
    *,
    provider: str = MailboxType.IMAP,
    selectors: list[str] | tuple[str, ...] = (),
    smtp_host: str | None = None,
) -> DomainReport:
    """Check ``domain`` with the resolvers of ``POSTKAMER_DNS_RESOLVERS``.

    The setting is read at call time (tests and operators change it). A
    malformed setting gives ``unknown`` verdicts rather than an error page.
    """
    try:
        resolver = make_resolver(getattr(settings, "POSTKAMER_DNS_RESOLVERS", None))
    except Exception:
        log.exception("Cannot build a DNS resolver from POSTKAMER_DNS_RESOLVERS")
        return _unknown_report(domain, "resolver_setting")
    host = (smtp_host or "").strip() or None
    ips: list[str] = []
    if host:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            host = None
            # Mail from a server on this very machine or link reaches the world
            # through some other address, so SPF cannot be judged for it here.
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                ips.append(str(address))
    return check_domain(
        domain,
        provider=provider,
        selectors=selectors,
        smtp_host=host,
        smtp_host_ips=ips,
        resolver=resolver,
    )


def selector_problem(value: str) -> str | None:
    """Return why ``value`` is not a usable DKIM selector, or None (empty is fine:
    no selector of one's own)."""
    value = value.strip()
    if not value:
        return None
    if not is_valid_selector(value):
        return gettext(
            "A DKIM selector consists of letters, digits, '-' and '_', possibly "
            "with dots in between (for example selector1)."
        )
    return None


def set_selector(mailbox: Mailbox, value: str, actor: User | None) -> None:
    """Save the mailbox's own DKIM selector (already checked with
    :func:`selector_problem`) and log the change; nothing when it is unchanged."""
    value = value.strip()
    if value == mailbox.dkim_selector:
        return
    before = audit.settings_snapshot(mailbox)
    mailbox.dkim_selector = value
    mailbox.save(update_fields=["dkim_selector"])
    audit.record_settings_change(mailbox, actor, before)


def run_check(mailbox: Mailbox) -> SecurityCheck:
    """Check the mailbox's sender domain now and store the result.

    The mailbox's own ``dkim_selector`` is tried first, then the selectors seen
    in its stored mail. Returns the new :class:`SecurityCheck`. DNS problems
    become ``unknown`` or ``error`` verdicts; nothing is raised for them.
    """
    domain = mailbox_domain(mailbox)
    in_use = selectors_in_use(mailbox, domain)
    own = mailbox.dkim_selector.strip()
    selectors = [own, *(s for s in in_use if s != own)] if own else in_use
    smtp_host = mailbox.smtp_host if mailbox.type == MailboxType.IMAP else None
    report = check(domain, provider=mailbox.type, selectors=selectors, smtp_host=smtp_host)
    statuses = {key: getattr(report, key).status for key in RECORDS}
    return SecurityCheck.objects.create(
        mailbox=mailbox,
        domain=report.domain,
        checked_at=report.checked_at,
        result=report.to_dict(),
        spf_status=statuses["spf"],
        dkim_status=statuses["dkim"],
        dmarc_status=statuses["dmarc"],
        has_error="error" in statuses.values(),
        selectors_in_use=in_use,
    )


def latest_check(mailbox: Mailbox) -> SecurityCheck | None:
    """Return the mailbox's newest check, or None when it was never checked."""
    return SecurityCheck.objects.filter(mailbox=mailbox).order_by("-checked_at", "-pk").first()


def with_security_error(mailboxes: QuerySet[Mailbox]) -> QuerySet[Mailbox]:
    """Annotate ``security_error``: True when the newest check found an error."""
    newest = SecurityCheck.objects.filter(mailbox=OuterRef("pk")).order_by("-checked_at", "-pk")
    return mailboxes.annotate(security_error=Subquery(newest.values("has_error")[:1]))


def message(code: str, params: dict[str, Any], english: str = "") -> str:
    """Return the sentence for ``code`` in the active language, params filled in.

    An unknown code (from a newer or older checker) falls back to the stored
    English ``message``, then to the code.
    """
    template = MESSAGES.get(code)
    if template is None:
        return english or code
    shown = dict(params)
    for key in _WORD_PARAMS:
        word = shown.get(key)
        if isinstance(word, str) and word in _PARAM_WORDS:
            shown[key] = str(_PARAM_WORDS[word])
    # The msgids are the MESSAGES sentences, extracted via gettext_noop in
    # dnsauth.text, so translating a variable is intended here.
    return fill(gettext(template), shown)


def localize(result: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a stored ``to_dict()`` result with every ``message`` in
    the active language; the API shape ``{checked_at, domain, spf, dkim, dmarc}``."""
    data = {key: copy.deepcopy(result.get(key)) for key in ("checked_at", "domain", *RECORDS)}
    for key in RECORDS:
        verdict = data[key] or {"status": "unknown", "record": None, "problems": [], "advice": []}
        for item in (*verdict.get("problems", []), *verdict.get("advice", [])):
            item["message"] = message(item["code"], item.get("params") or {}, item.get("message"))
        data[key] = verdict
    return data


def report_data(security_check: SecurityCheck) -> dict[str, Any]:
    """Return the API/CLI object of a stored check, in the active language."""
    return localize(security_check.result)
