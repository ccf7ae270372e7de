"""REST: ``/api/v1/mailboxes/{id}/security/`` (docs/product.md, Public interfaces)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from postkamer.api.base import BaseAPIView
from postkamer.api.permissions import EmailModule
from postkamer.dnschecks import services
from postkamer.mailboxes import access

STATUSES = ["ok", "warning", "error", "unknown"]


# The serializers only document the shape for the OpenAPI schema; the data is
# the checker's own dict, localised.
class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    params = serializers.DictField()
    message = serializers.CharField()


class AdviceSerializer(serializers.Serializer):
    code = serializers.CharField()
    params = serializers.DictField()
    record = serializers.CharField(allow_null=True, help_text="The exact record to publish.")
    message = serializers.CharField()


class VerdictSerializer(serializers.Serializer):
    status = serializers.ChoiceField(STATUSES)
    record = serializers.CharField(allow_null=True)
    problems = ProblemSerializer(many=True)
    advice = AdviceSerializer(many=True)


class SecurityReportSerializer(serializers.Serializer):
    checked_at = serializers.DateTimeField()
    domain = serializers.CharField()
    spf = VerdictSerializer()
    dkim = VerdictSerializer()
    dmarc = VerdictSerializer()


class SecurityCheckRequestSerializer(serializers.Serializer):
    dkim_selector = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The mailbox's own DKIM selector, checked first; empty removes it.",
    )

    def validate_dkim_selector(self, value: str) -> str:
        problem = services.selector_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value.strip()


class MailboxSecurityView(BaseAPIView):
    """The SPF/DKIM/DMARC verdicts of a mailbox's sender domain; managers only."""

    permission_classes = [IsAuthenticated, EmailModule]

    @extend_schema(
        responses=SecurityReportSerializer,
        description="The newest stored check; a mailbox never checked is checked first.",
    )
    def get(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        latest = services.latest_check(mailbox)
        if latest is None:
            # As the web tab does: never answer "no result" for a quick check.
            latest = services.run_check(mailbox)
        return Response(services.report_data(latest))

    @extend_schema(
        request=SecurityCheckRequestSerializer,
        responses={201: SecurityReportSerializer},
        description=(
            "Check the sender domain again now and store the result; "
            "``dkim_selector``, when given, is saved first."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        mailbox = access.get_mailbox(request.user, pk, access.MANAGE)
        body = SecurityCheckRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        selector = body.validated_data.get("dkim_selector")
        if selector is not None:
            services.set_selector(mailbox, selector, request.user)
        created = services.run_check(mailbox)
        return Response(services.report_data(created), status=status.HTTP_201_CREATED)
