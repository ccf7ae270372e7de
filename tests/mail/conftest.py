"""Helpers for the mail protocol tests."""

from __future__ import annotations

import ssl

import pytest

from postkamer.mail.net import ConnectOptions, ServerSettings, make_ssl_context
from tests.servers.tls import TestCA

#: Short time-out: the silent-server tests wait for it.
TIMEOUT = 1.0


@pytest.fixture(scope="session")
def trusted_ctx(test_ca: TestCA) -> ssl.SSLContext:
    """Client context trusting the test CA (plus the system CAs)."""
    return make_ssl_context(str(test_ca.ca_cert))


@pytest.fixture(scope="session")
def options(trusted_ctx: ssl.SSLContext) -> ConnectOptions:
    """Options for the local test servers: loopback allowed, 1 s time-out."""
    return ConnectOptions(ssl_context=trusted_ctx, timeout=TIMEOUT, allow_private=True)


def settings(
    port: int,
    security: str,
    username: str = "nobody@example.test",
    password: str | None = "x",
    host: str = "localhost",
    oauth2_token: str | None = None,
) -> ServerSettings:
    """Shorthand for a ServerSettings."""
    return ServerSettings(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
        oauth2_token=oauth2_token,
    )
