"""Throwaway TLS material for test servers: a CA, a server certificate for
``localhost``/``127.0.0.1`` signed by it, and an unrelated self-signed
("untrusted") certificate for the same names."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NAMES = x509.SubjectAlternativeName(
    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
)


@dataclass(frozen=True)
class TestCA:
    """Paths (PEM) of the generated material.

    ``ca_cert``: trust this.  ``server_cert``/``server_key``: signed by the CA.
    ``untrusted_cert``/``untrusted_key``: self-signed, not trusted by anything.
    """

    __test__ = False  # not a pytest test class despite the name

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    untrusted_cert: Path
    untrusted_key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o644)  # Dovecot reads it as root via "<file"; tests read it too


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so a small clock skew does not make it "not yet valid".
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _leaf(builder: x509.CertificateBuilder, public_key) -> x509.CertificateBuilder:
    return (
        builder.add_extension(_NAMES, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_test_ca(directory: Path, days: int = 2) -> TestCA:
    """Create the CA, the server certificate and the untrusted certificate in
    ``directory`` (created if needed) and return their paths.  EC P-256."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Postkamer Test CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    server_cert = (
        _leaf(
            _builder(server_name, ca_name, server_key.public_key(), days), server_key.public_key()
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    untrusted_key = ec.generate_private_key(ec.SECP256R1())
    untrusted_cert = _leaf(
        _builder(server_name, server_name, untrusted_key.public_key(), days),
        untrusted_key.public_key(),
    ).sign(untrusted_key, hashes.SHA256())

    paths = TestCA(
        directory=directory,
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        untrusted_cert=directory / "untrusted.pem",
        untrusted_key=directory / "untrusted-key.pem",
    )
    _write_cert(ca_cert, paths.ca_cert)
    _write_key(ca_key, paths.ca_key)
    _write_cert(server_cert, paths.server_cert)
    _write_key(server_key, paths.server_key)
    _write_cert(untrusted_cert, paths.untrusted_cert)
    _write_key(untrusted_key, paths.untrusted_key)
    return paths
