"""Mail protocol layer: IMAP and SMTP connections with checked addresses and TLS.

Nothing in this package may import Django; the web layer maps the error codes
in :mod:`postkamer.mail.errors` to user-facing text.
"""
