"""Validators shared by the apps."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _


def has_control_characters(value: str) -> bool:
    """True when ``value`` holds a line break (CR, LF, NEL, a Unicode line or paragraph
    separator) or another control character. In a mail header such a character
    would end the header and start one of the sender's choosing."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


@deconstructible
class HeaderValue:
    """Refuses a value that ends up in a mail header (a name, a display name, an
    address) when it holds a line break or another control character. The
    message names the field: ``label`` is its name as the user knows it."""

    code = "header_value"

    def __init__(self, label: Any) -> None:
        self.label = label

    def __call__(self, value: Any) -> None:
        if isinstance(value, str) and has_control_characters(value):
            raise ValidationError(self.message(self.label), code=self.code)

    @staticmethod
    def message(label: Any) -> str:
        return _(
            "The field '%(field)s' may not contain line breaks or other control characters."
        ) % {"field": label}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderValue) and str(self.label) == str(other.label)

    def __hash__(self) -> int:
        return hash(str(self.label))
