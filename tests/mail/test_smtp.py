"""postkamer.mail.smtp against real aiosmtpd servers."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import ssl
import time

import pytest

from postkamer.mail import errors, smtp
from postkamer.mail.net import ConnectOptions, make_ssl_context
from tests.mail.conftest import TIMEOUT, settings


@pytest.fixture
def smtp_user(smtp_servers) -> tuple[str, str]:
    """A fresh SMTP login: (email, password)."""
    email = f"s{secrets.token_hex(6)}@example.test"
    password = "pw-" + secrets.token_hex(8)
    smtp_servers.users[email] = password
    return email, password


def _raw(frm: str, to: str) -> bytes:
    return (
        f"From: {frm}\r\nTo: {to}\r\nSubject: test {secrets.token_hex(4)}\r\n\r\nHello.\r\n"
    ).encode()


def test_login_succeeds_over_ssl(smtp_servers, smtp_user, options):
    smtp.check_login(settings(smtp_servers.implicit_port, "ssl", *smtp_user), options)


def test_login_succeeds_over_starttls_and_a_message_is_sent(smtp_servers, smtp_user, options):
    email, password = smtp_user
    conn = smtp.connect(settings(smtp_servers.starttls_port, "starttls", email, password), options)
    try:
        assert isinstance(conn.sock, ssl.SSLSocket)
        assert conn.sock.gettimeout() == TIMEOUT
        assert not conn.password  # smtplib's copy of the password is dropped
        smtp.send(conn, email, ["bob@example.test"], _raw(email, "bob@example.test"))
    finally:
        conn.quit()
    [received] = smtp_servers.messages_for("bob@example.test")[-1:]
    assert received.mail_from == email
    assert received.auth_user == email
    assert b"Hello." in received.raw


def test_wrong_password_raises_auth_failed_without_leaking_it(smtp_servers, smtp_user, options):
    email, _ = smtp_user
    wrong = "Wr0ng-" + secrets.token_hex(8)
    server = settings(smtp_servers.implicit_port, "ssl", email, wrong)
    with pytest.raises(errors.AuthFailed) as info:
        smtp.connect(server, options)
    assert info.value.code == "auth_failed"
    for text in (str(info.value), repr(info.value), repr(server)):
        assert wrong not in text


def test_unknown_host_raises_host_not_found(options):
    with pytest.raises(errors.HostNotFound):
        smtp.check_login(settings(465, "ssl", host="no-such-host.invalid"), options)


def test_closed_port_raises_connection_refused(closed_port, options):
    with pytest.raises(errors.ConnectionRefused):
        smtp.check_login(settings(closed_port, "starttls", host="127.0.0.1"), options)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_silent_server_raises_timeout_within_twice_the_timeout(silent_server, options, security):
    start = time.monotonic()
    with pytest.raises(errors.Timeout):
        smtp.check_login(settings(silent_server.port, security), options)
    assert time.monotonic() - start < 2 * TIMEOUT


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_certificate_from_an_untrusted_ca_raises_certificate_untrusted(
    smtp_servers, smtp_user, options, security
):
    untrusting = dataclasses.replace(options, ssl_context=make_ssl_context())
    port = smtp_servers.implicit_port if security == "ssl" else smtp_servers.starttls_port
    with pytest.raises(errors.CertificateUntrusted):
        smtp.check_login(settings(port, security, *smtp_user), untrusting)


def test_server_without_starttls_raises_starttls_unavailable(smtp_servers, smtp_user, options):
    with pytest.raises(errors.StartTLSUnavailable):
        smtp.check_login(settings(smtp_servers.plain_port, "starttls", *smtp_user), options)


def test_starttls_server_offers_no_auth_before_tls(smtp_servers, smtp_user, options):
    # Asking for no TLS on a STARTTLS-required server: no AUTH, never plaintext creds.
    with pytest.raises(errors.AuthUnavailable):
        smtp.check_login(settings(smtp_servers.starttls_port, "none", *smtp_user), options)


def test_loopback_address_is_refused_unless_allow_private(smtp_servers, smtp_user, trusted_ctx):
    server = settings(smtp_servers.implicit_port, "ssl", *smtp_user)
    with pytest.raises(errors.PrivateHostRefused):
        smtp.check_login(server, ConnectOptions(ssl_context=trusted_ctx, timeout=TIMEOUT))
    smtp.check_login(
        server, ConnectOptions(ssl_context=trusted_ctx, timeout=TIMEOUT, allow_private=True)
    )


def test_certificate_is_checked_against_the_host_name_not_the_address(
    smtp_servers, smtp_user, options
):
    def resolver(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    opts = dataclasses.replace(options, resolver=resolver)
    for port, security in (
        (smtp_servers.implicit_port, "ssl"),
        (smtp_servers.starttls_port, "starttls"),
    ):
        with pytest.raises(errors.CertificateUntrusted):
            smtp.check_login(settings(port, security, *smtp_user, host="mail.example.test"), opts)


def test_xoauth2_login_works_with_a_good_token_and_fails_with_a_revoked_one(
    smtp_servers, smtp_user, options
):
    email, _ = smtp_user
    token = "tok-" + secrets.token_hex(12)
    smtp_servers.tokens[token] = email
    server = settings(smtp_servers.implicit_port, "ssl", email, password=None, oauth2_token=token)
    smtp.check_login(server, options)
    del smtp_servers.tokens[token]
    with pytest.raises(errors.AuthFailed) as info:
        smtp.check_login(server, options)
    assert token not in str(info.value)


def test_send_maps_a_refused_recipient_to_message_refused(smtp_servers, smtp_user, options):
    email, password = smtp_user
    smtp_servers.refused_rcpts.add("gone@example.test")
    conn = smtp.connect(settings(smtp_servers.implicit_port, "ssl", email, password), options)
    try:
        with pytest.raises(errors.MessageRefused) as info:
            smtp.send(conn, email, ["gone@example.test"], _raw(email, "gone@example.test"))
        assert info.value.refused["gone@example.test"][0] == 550
        assert info.value.delivered_to_others is False
        with pytest.raises(errors.MessageRefused) as info:
            smtp.send(
                conn,
                email,
                ["gone@example.test", "carol@example.test"],
                _raw(email, "carol@example.test"),
            )
        assert info.value.delivered_to_others is True
        assert list(info.value.refused) == ["gone@example.test"]
    finally:
        conn.quit()
    assert smtp_servers.messages_for("carol@example.test")


def test_non_ascii_password_logs_in_with_utf8_auth_plain(smtp_servers, options):
    email = f"s{secrets.token_hex(6)}@example.test"
    smtp_servers.users[email] = "wachtwoord-ĳsbeer-€"
    smtp.check_login(
        settings(smtp_servers.implicit_port, "ssl", email, "wachtwoord-ĳsbeer-€"), options
    )
