"""Shared set-up for the security tab, API and check-dns tests: the checker's
test zones (tests/mail/dnsauth_zones.py) on the session's test DNS server."""

from __future__ import annotations

from tests.mail.dnsauth_zones import Case, _zone_text, install, make_keys
from tests.servers.dns import TestDNS

_keys: dict[int, dict[str, str]] = {}


def install_zones(server: TestDNS) -> dict[str, str]:
    """Serve every checker test zone (once per server); return the DKIM keys used."""
    keys = _keys.get(id(server))
    if keys is None:
        keys = make_keys()
        install(server, keys)
        _keys[id(server)] = keys
    return keys


def serve_case(server: TestDNS, case: Case) -> None:
    """Serve ``case``'s zone, e.g. one a test breaks and fixes on its own domain."""
    keys = install_zones(server)

    def fill(text: str) -> str:
        for name, value in keys.items():
            text = text.replace("{" + name + "}", value)
        return text

    server.set_zone(case.domain, _zone_text(case, fill))
