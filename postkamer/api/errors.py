"""JSON errors with a human message, also for Django's own 404/403."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # DRF turns Django's exceptions into generic ones and drops their message;
    # ours say what is wrong in the user's language, so keep it.
    if isinstance(exc, DjangoPermissionDenied) and exc.args:
        exc = exceptions.PermissionDenied(str(exc.args[0]))
    elif isinstance(exc, Http404) and exc.args:
        exc = exceptions.NotFound(str(exc.args[0]))
    return drf_exception_handler(exc, context)
