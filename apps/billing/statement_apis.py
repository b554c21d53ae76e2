"""/api/billing/statements: the caller's workspace's monthly statements, as JSON and as CSV.

A month is `YYYY-MM`, a calendar month in the workspace's timezone. Money is a string of the exact decimal
("12.50", "0.000042"); token and request counts are integers.
"""

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from apps.billing.statements import (
    money_str,
    monthly_statement,
    statement_csv,
    statement_csv_filename,
    statement_month_list,
    statement_month_parse,
)
from apps.core.api import ErrorSerializer, WorkspaceAPIView

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="A malformed month; `extra.fields.month` says why."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    404: OpenApiResponse(ErrorSerializer, description="A month that has not begun; `extra.fields.month` says so."),
}


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """An exact amount of USD as a string."""

    def to_representation(self, value) -> str:
        return money_str(value)


class StatementUsageSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    platform_requests = serializers.IntegerField()
    byok_requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    tokens = serializers.IntegerField()
    platform_tokens = serializers.IntegerField()
    byok_tokens = serializers.IntegerField()
    cost_usd = MoneyField(help_text="Calls of unknown price add nothing; see `unknown_price_requests`.")
    platform_cost_usd = MoneyField()
    byok_cost_usd = MoneyField(help_text="Paid to the provider with the customer's own key.")
    unknown_price_requests = serializers.IntegerField()


class StatementModelUsageSerializer(StatementUsageSerializer):
    model = serializers.CharField(help_text="The canonical model id; empty when no model was reached.")


class StatementAgentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="agent_id")
    slug = serializers.CharField(source="agent_slug")
    name = serializers.CharField(source="agent_name")


class StatementAgentUsageSerializer(StatementUsageSerializer):
    agent = serializers.SerializerMethodField()

    @extend_schema_field(StatementAgentSerializer(allow_null=True))
    def get_agent(self, row) -> dict | None:
        return None if row.agent_id is None else StatementAgentSerializer(row).data


class StatementQuotaSerializer(serializers.Serializer):
    plan = serializers.CharField(source="plan_name")
    unlimited = serializers.BooleanField()
    monthly_token_quota = serializers.IntegerField(source="quota_tokens", allow_null=True)
    used_tokens = serializers.IntegerField(help_text="Prompt + completion tokens of the month's non-BYOK calls.")
    remaining_tokens = serializers.IntegerField(allow_null=True)
    percent_used = serializers.DecimalField(
        max_digits=20, decimal_places=2, allow_null=True, help_text="Past 100 when over quota; null when unlimited."
    )


class StatementOverageSerializer(serializers.Serializer):
    tokens = serializers.IntegerField()
    amount_usd = MoneyField()


class StatementLedgerKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    amount_usd = MoneyField()


class StatementCreditsSerializer(serializers.Serializer):
    opening_balance_usd = MoneyField()
    in_by_kind = StatementLedgerKindSerializer(many=True, help_text="Credit added in the month, by ledger kind.")
    out_by_kind = StatementLedgerKindSerializer(many=True, help_text="Credit spent in the month, by kind, positive.")
    total_in_usd = MoneyField()
    total_out_usd = MoneyField()
    closing_balance_usd = MoneyField()


class StatementWorkspaceSerializer(serializers.Serializer):
    slug = serializers.CharField(source="workspace_slug")
    name = serializers.CharField(source="workspace_name")


class StatementOutputSerializer(serializers.Serializer):
    workspace = StatementWorkspaceSerializer(source="*")
    month = serializers.CharField(source="month_label")
    timezone = serializers.CharField()
    period_start = serializers.SerializerMethodField()
    period_end = serializers.SerializerMethodField()
    in_progress = serializers.BooleanField(help_text="The month has not ended: figures to date.")
    billing_mode = serializers.CharField()
    totals = StatementUsageSerializer()
    by_model = StatementModelUsageSerializer(many=True)
    by_agent = StatementAgentUsageSerializer(many=True)
    quota = StatementQuotaSerializer()
    overage = StatementOverageSerializer()
    credits = StatementCreditsSerializer()

    def get_period_start(self, statement) -> str:
        return statement.period_start.isoformat()

    def get_period_end(self, statement) -> str:
        return statement.period_end.isoformat()


class StatementMonthListApi(WorkspaceAPIView):
    class StatementMonthOutputSerializer(serializers.Serializer):
        month = serializers.CharField()
        url = serializers.URLField()
        csv_url = serializers.URLField()

    @extend_schema(
        operation_id="billing_statements_list",
        tags=["billing"],
        description="The months with usage, credits or overage in your workspace (in its timezone), newest first.",
        responses={200: StatementMonthOutputSerializer(many=True), 401: ERRORS[401]},
    )
    def get(self, request):
        months = []
        for month in statement_month_list(workspace=self.workspace):
            label = f"{month:%Y-%m}"
            months.append(
                {
                    "month": label,
                    "url": request.build_absolute_uri(reverse("billing_statements:detail", args=[label])),
                    "csv_url": request.build_absolute_uri(reverse("billing_statements:csv", args=[label])),
                }
            )
        return Response(self.StatementMonthOutputSerializer(months, many=True).data)


class StatementDetailApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="billing_statements_retrieve",
        tags=["billing"],
        description=(
            "Your workspace's statement of one month: usage by model and agent, platform vs BYOK, quota, overage "
            "and credits in and out."
        ),
        responses={200: StatementOutputSerializer, **ERRORS},
    )
    def get(self, request, month: str):
        statement = monthly_statement(
            workspace=self.workspace, month=statement_month_parse(value=month, workspace=self.workspace)
        )
        return Response(StatementOutputSerializer(statement).data)


class StatementCsvApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="billing_statements_csv",
        tags=["billing"],
        description="The same statement as a CSV download; the first column names the section.",
        responses={(200, "text/csv"): OpenApiTypes.STR, **ERRORS},
    )
    def get(self, request, month: str):
        statement = monthly_statement(
            workspace=self.workspace, month=statement_month_parse(value=month, workspace=self.workspace)
        )
        return statement_csv_response(statement)

    def perform_content_negotiation(self, request, force=False):
        # The download is CSV whatever the Accept header says (`Accept: text/csv` included); errors are JSON.
        return super().perform_content_negotiation(request, force=True)


def statement_csv_response(statement) -> HttpResponse:
    response = HttpResponse(statement_csv(statement=statement), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statement_csv_filename(statement=statement)}"'
    return response
