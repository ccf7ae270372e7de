"""Base classes for every API view."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.views import APIView


class UserLanguageMixin:
    """Answer in the user's language.

    Token authentication happens inside DRF, after the language middleware ran
    with an anonymous user, so the choice is made again here.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        user = request.user
        if user is not None and user.is_authenticated and getattr(user, "language", None):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language


class BaseAPIView(UserLanguageMixin, APIView):
    pass


class BaseViewSet(UserLanguageMixin, viewsets.GenericViewSet):
    pass


class BaseModelViewSet(UserLanguageMixin, viewsets.ModelViewSet):
    pass
