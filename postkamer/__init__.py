"""Postkamer: the e-mail manager of a CRM for Dutch advisory offices."""

__version__ = "0.1.0"
