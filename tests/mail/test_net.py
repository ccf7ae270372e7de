"""postkamer.mail.net: address checks, settings repr, TLS context."""

from __future__ import annotations

import socket
import ssl

import pytest

from postkamer.mail import errors, net
from postkamer.mail.net import ServerSettings


def _fake_resolver(*addresses: str):
    def resolve(host, port):
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses_are_refused_unless_allowed(address):
    resolver = _fake_resolver(address)
    with pytest.raises(errors.PrivateHostRefused):
        net.resolve_checked("mail.example.com", 993, allow_private=False, resolver=resolver)
    assert net.resolve_checked("mail.example.com", 993, allow_private=True, resolver=resolver)


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254, the cloud metadata service
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::10.0.0.1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # the local-use NAT64 prefix
        "fec0::1",  # site-local
        "fec0:0:0:ffff::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:0:127.0.0.1",  # IPv4-translated
    ],
)
def test_ipv6_forms_of_internal_addresses_are_refused(address):
    assert net.is_internal_address(address)
    with pytest.raises(errors.PrivateHostRefused):
        net.resolve_checked(address, 993, allow_private=False)
    with pytest.raises(errors.PrivateHostRefused):
        net.open_connection(address, 993, timeout=1, allow_private=False)


def test_nat64_and_6to4_forms_of_public_addresses_pass():
    # How an IPv6-only network with DNS64 sees a public IPv4 mail server.
    for address in ("64:ff9b::5db8:d822", "2002:5db8:d822::1"):
        assert not net.is_internal_address(address), address


def test_public_addresses_pass_the_check():
    resolver = _fake_resolver("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    infos = net.resolve_checked("mail.example.com", 993, allow_private=False, resolver=resolver)
    assert [i[4][0] for i in infos] == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


def test_one_internal_address_among_public_ones_is_enough_to_refuse():
    resolver = _fake_resolver("93.184.216.34", "10.0.0.5")
    with pytest.raises(errors.PrivateHostRefused):
        net.resolve_checked("mail.example.com", 993, allow_private=False, resolver=resolver)


def test_literal_ip_addresses_are_checked_without_dns():
    with pytest.raises(errors.PrivateHostRefused):
        net.resolve_checked("127.0.0.1", 993, allow_private=False)
    infos = net.resolve_checked("93.184.216.34", 993, allow_private=False)
    assert infos[0][4][0] == "93.184.216.34"


def test_a_name_that_does_not_resolve_raises_host_not_found():
    with pytest.raises(errors.HostNotFound):
        net.resolve_checked("no-such-host.invalid", 993, allow_private=False)


def test_open_connection_connects_to_the_checked_address_only(silent_server):
    calls = []

    def resolver(host, port):
        calls.append(host)
        return _fake_resolver("127.0.0.1")(host, port)

    sock = net.open_connection("anything.example", silent_server.port, 1.0, True, resolver)
    with sock:
        assert sock.getpeername() == ("127.0.0.1", silent_server.port)
        assert sock.gettimeout() == 1.0
    assert calls == ["anything.example"]


def test_server_settings_repr_never_shows_secrets():
    s = ServerSettings("h", 993, "ssl", "u", password="hunter2-secret", oauth2_token="tok-secret")
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert "hunter2-secret" not in text
        assert "tok-secret" not in text
    assert "password='***'" in repr(s)
    assert "password=None" in repr(ServerSettings("h", 993, "ssl", "u"))


def test_server_settings_reject_an_unknown_security_mode():
    with pytest.raises(ValueError):
        ServerSettings("h", 993, "tls", "u")


def test_ssl_context_verifies_and_requires_tls_1_2(test_ca):
    ctx = net.make_ssl_context(str(test_ca.ca_cert))
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    subjects = [dict(x[0] for x in c["subject"]) for c in ctx.get_ca_certs()]
    assert {"commonName": "Postkamer Test CA"} in subjects


def test_errors_have_codes_and_kinds():
    assert errors.AuthFailed("x").code == "auth_failed"
    assert isinstance(errors.Timeout("x"), errors.TemporaryFailure)
    assert isinstance(errors.ConnectionRefused("x"), errors.TemporaryFailure)
    assert isinstance(errors.CertificateUntrusted("x"), errors.PermanentFailure)
    missing = errors.FolderMissing("Archief")
    assert missing.folder == "Archief"
    assert missing.code == "folder_missing"
    assert "Archief" in str(missing)
