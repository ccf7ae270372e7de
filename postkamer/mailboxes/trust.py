"""The TLS trust of every outgoing connection: mail servers and identity platforms."""

from __future__ import annotations

import functools
import os
import ssl

from django.conf import settings

from postkamer.mail.net import make_ssl_context


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None, _mtime: float) -> ssl.SSLContext:
    return make_ssl_context(ca_file)


def ssl_context() -> ssl.SSLContext:
    """The verifying TLS context (system CAs plus ``POSTKAMER_CA_FILE``), built once
    per CA file (and again when the file changes): loading the system's CA store
    takes ~35 ms, which every sent message paid twice (SMTP and IMAP)."""
    ca_file = settings.POSTKAMER_CA_FILE
    try:
        mtime = os.stat(ca_file).st_mtime if ca_file else 0.0
    except OSError:
        return make_ssl_context(ca_file)  # raises the error that names the file
    return _ssl_context(ca_file, mtime)
