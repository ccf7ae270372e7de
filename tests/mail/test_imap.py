"""postkamer.mail.imap against a real Dovecot."""

from __future__ import annotations

import dataclasses
import imaplib
import secrets
import socket
import threading
import time

import pytest

from postkamer.mail import errors, imap
from postkamer.mail.net import ConnectOptions, make_ssl_context
from tests.mail.conftest import TIMEOUT, settings


def test_login_succeeds_over_ssl(dovecot, imap_user, options):
    email, password = imap_user
    imap.check_login(settings(dovecot.imaps_port, "ssl", email, password), options)


def test_login_succeeds_over_starttls(dovecot, imap_user, options):
    email, password = imap_user
    conn = imap.connect(settings(dovecot.imap_port, "starttls", email, password), options)
    try:
        assert conn._starttls_done
        assert isinstance(conn.socket(), __import__("ssl").SSLSocket)
    finally:
        conn.logout()


def test_imapclient_still_talks_through_the_imap4_we_create(dovecot, imap_user, options):
    # We override IMAPClient's private _create_IMAP4 (to connect to the checked
    # address) and read bulk FETCH replies through that imaplib object with its
    # documented send/readline/read: this fails when IMAPClient changes either.
    import imapclient

    assert imapclient.__version__.startswith("4.1."), "re-check the private hook, then the pin"
    email, password = imap_user
    conn = imap.connect(settings(dovecot.imaps_port, "ssl", email, password), options)
    try:
        assert isinstance(conn.imap4, imaplib.IMAP4)
        assert conn._imap is conn.imap4
        assert conn.socket() is conn.imap4.socket()
        assert conn.socket().gettimeout() == TIMEOUT
        for documented in ("send", "readline", "read", "socket"):
            assert callable(getattr(imaplib.IMAP4, documented))
    finally:
        conn.logout()


def test_wrong_password_raises_auth_failed_without_leaking_it(dovecot, imap_user, options):
    email, _ = imap_user
    wrong = "Wr0ng-" + secrets.token_hex(8)
    server = settings(dovecot.imaps_port, "ssl", email, wrong)
    with pytest.raises(errors.AuthFailed) as info:
        imap.connect(server, options)
    assert info.value.code == "auth_failed"
    assert isinstance(info.value, errors.PermanentFailure)
    for text in (str(info.value), repr(info.value), repr(server), str(server)):
        assert wrong not in text


def test_unknown_host_raises_host_not_found(options):
    # RFC 2606 reserves .invalid; the resolver here fails it in milliseconds.
    with pytest.raises(errors.HostNotFound):
        imap.check_login(settings(993, "ssl", host="no-such-host.invalid"), options)


def test_closed_port_raises_connection_refused(closed_port, options):
    with pytest.raises(errors.ConnectionRefused):
        imap.check_login(settings(closed_port, "ssl", host="127.0.0.1"), options)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_silent_server_raises_timeout_within_twice_the_timeout(silent_server, options, security):
    start = time.monotonic()
    with pytest.raises(errors.Timeout):
        imap.check_login(settings(silent_server.port, security), options)
    assert time.monotonic() - start < 2 * TIMEOUT


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_certificate_from_an_untrusted_ca_raises_certificate_untrusted(
    dovecot, imap_user, options, security
):
    # System CAs only: the test CA that signed Dovecot's certificate is unknown.
    untrusting = dataclasses.replace(options, ssl_context=make_ssl_context())
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    with pytest.raises(errors.CertificateUntrusted):
        imap.check_login(settings(port, security, *imap_user), untrusting)


def test_certificate_is_checked_against_the_host_name_not_the_address(dovecot, imap_user, options):
    # The resolver maps another name to 127.0.0.1: connecting works, but the
    # certificate (localhost, 127.0.0.1) does not match that name.
    resolver_calls = []

    def resolver(host, port):
        resolver_calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    opts = dataclasses.replace(options, resolver=resolver)
    with pytest.raises(errors.CertificateUntrusted):
        imap.check_login(
            settings(dovecot.imaps_port, "ssl", *imap_user, host="mail.example.test"), opts
        )
    assert resolver_calls == ["mail.example.test"]


def test_loopback_address_is_refused_unless_allow_private(dovecot, imap_user):
    ctx = make_ssl_context(dovecot.ca_file)
    server = settings(dovecot.imaps_port, "ssl", *imap_user)
    with pytest.raises(errors.PrivateHostRefused):
        imap.check_login(server, ConnectOptions(ssl_context=ctx, timeout=TIMEOUT))
    imap.check_login(server, ConnectOptions(ssl_context=ctx, timeout=TIMEOUT, allow_private=True))


def test_xoauth2_login_works_with_a_good_token_and_fails_once_revoked(dovecot, imap_user, options):
    email, _ = imap_user
    token = "tok-" + secrets.token_hex(12)
    dovecot.add_token(token, email)
    server = settings(dovecot.imaps_port, "ssl", email, password=None, oauth2_token=token)
    imap.check_login(server, options)
    dovecot.revoke_token(token)
    with pytest.raises(errors.AuthFailed) as info:
        imap.check_login(server, options)
    assert token not in str(info.value)
    assert token not in repr(server)


def test_list_folders_returns_special_use_flags_and_normal_folders(dovecot, imap_user, options):
    email, password = imap_user
    dovecot.create_folder(email, "Projecten/Ünïcode")
    conn = imap.connect(settings(dovecot.imaps_port, "ssl", email, password), options)
    try:
        folders = {f.name: f for f in imap.list_folders(conn)}
    finally:
        conn.logout()
    assert folders["Sent"].special_use == "\\Sent"
    assert folders["Junk"].special_use == "\\Junk"
    assert folders["Drafts"].special_use == "\\Drafts"
    assert folders["Trash"].special_use == "\\Trash"
    assert folders["INBOX"].special_use is None
    assert folders["INBOX"].selectable
    sub = folders["Projecten/Ünïcode"]
    assert sub.special_use is None
    assert sub.delimiter == "/"
    assert sub.selectable
    assert "Projecten" in folders


class _NoStartTLSImapServer:
    """Greets like an IMAP server without STARTTLS; answers CAPABILITY."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.got_login = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n")
                f.flush()
                for line in f:
                    tag, _, rest = line.decode().strip().partition(" ")
                    cmd = rest.split(" ")[0].upper()
                    if cmd == "CAPABILITY":
                        f.write(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
                    elif cmd == "LOGOUT":
                        f.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                        f.flush()
                        break
                    else:
                        self.got_login |= cmd == "LOGIN"
                        f.write(f"{tag} NO nope\r\n".encode())
                    f.flush()

    def stop(self):
        self.sock.close()


def test_starttls_is_never_skipped_when_the_server_lacks_it(options):
    fake = _NoStartTLSImapServer()
    try:
        with pytest.raises(errors.StartTLSUnavailable):
            imap.check_login(settings(fake.port, "starttls", password="secret"), options)
        assert not fake.got_login
    finally:
        fake.stop()


def test_non_ascii_password_logs_in_with_sasl_plain(dovecot, options):
    email, _ = dovecot.new_user()
    dovecot.set_password(email, "wachtwoord-ĳsbeer-€")
    imap.check_login(settings(dovecot.imaps_port, "ssl", email, "wachtwoord-ĳsbeer-€"), options)


def test_password_and_token_never_reach_the_debug_log(dovecot, imap_user, options, caplog):
    caplog.set_level("DEBUG")
    email, password = imap_user
    token = "tok-" + secrets.token_hex(12)
    dovecot.add_token(token, email)
    imap.check_login(settings(dovecot.imaps_port, "ssl", email, password), options)
    imap.check_login(settings(dovecot.imaps_port, "ssl", email, None, oauth2_token=token), options)
    assert "LOGIN" in caplog.text  # imaplib traffic was logged, with secrets redacted
    assert password not in caplog.text
    assert token not in caplog.text
