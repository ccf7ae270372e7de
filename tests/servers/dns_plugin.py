"""Pytest fixtures for the in-process test DNS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.dns import TestDNS, worker_port


@pytest.fixture(scope="session")
def dns_server() -> Iterator[TestDNS]:
    """A started :class:`TestDNS` on the worker's port block + 53, for the session."""
    server = TestDNS(port=worker_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dns_resolver_spec(dns_server: TestDNS) -> str:
    """The ``POSTKAMER_DNS_RESOLVERS`` value pointing at ``dns_server``."""
    return dns_server.spec
