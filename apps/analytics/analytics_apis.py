"""/api/analytics/llm/usage, /costs and /summary: the caller's workspace's usage over a period, grouped by model,
provider, agent or API key, read from the hourly rollups (apps/analytics/rollup_selectors.py).

A period is `start` and `end` (ISO dates, both included) or `period=7d|30d|90d` (the last days up to today; 30d by
default), in the workspace's timezone. Costs are decimal strings in USD. Unknown query parameters are bad input.
"""

import datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.analytics.rollup_selectors import (
    GROUP_FIELDS,
    PERIOD_DAYS,
    AnalyticsPeriod,
    analytics_period,
    usage_average_latency_ms,
    usage_costs,
    usage_error_rate,
    usage_group_labels,
    usage_series,
    usage_summary,
)
from apps.core.api import ErrorSerializer, PagePagination, WorkspaceAPIView
from apps.core.api_io import PageQuerySerializer, StrictSerializer, query_params

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed in this workspace."),
}
PAGE_ERRORS = {**ERRORS, 404: OpenApiResponse(ErrorSerializer, description="No such page.")}
MAX_RANGE_DAYS = 366
# Dates outside these are typos, and far enough out they would overflow the date arithmetic.
EARLIEST = datetime.date(2000, 1, 1)
LATEST = datetime.date(2999, 12, 31)


@extend_schema_field(OpenApiTypes.DECIMAL)
class AnalyticsDecimalField(serializers.Field):
    """A Decimal as a plain decimal string without trailing zeros ("0.000042"), never in exponent form."""

    def to_representation(self, value: Decimal) -> str:
        return f"{value.normalize():f}" if value else "0"


class ZonedDateTimeField(serializers.DateTimeField):
    """A bucket's start in the workspace's timezone, where the API's other times are in UTC."""

    def enforce_timezone(self, value):
        return value


# --- query parameters --------------------------------------------------------------------------------------------


class AnalyticsRangeQuerySerializer(StrictSerializer):
    start = serializers.DateField(required=False, help_text="First day (ISO date), with `end`.")
    end = serializers.DateField(required=False, help_text="Last day, included (ISO date), with `start`.")
    period = serializers.ChoiceField(
        choices=list(PERIOD_DAYS), required=False, help_text="The last 7, 30 or 90 days up to today; default 30d."
    )

    def validate_start(self, value: datetime.date) -> datetime.date:
        return _in_range(value)

    def validate_end(self, value: datetime.date) -> datetime.date:
        return _in_range(value)

    def validate(self, data: dict) -> dict:
        start, end = data.get("start"), data.get("end")
        if data.get("period") and (start or end):
            raise ValidationError({"period": ["Give period, or start and end, not both."]})
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            raise ValidationError({missing: ["Give start and end together."]})
        if start and end:
            if end < start:
                raise ValidationError({"end": ["Must not be before start."]})
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise ValidationError({"end": [f"A range spans at most {MAX_RANGE_DAYS} days."]})
        return data


def _in_range(value: datetime.date) -> datetime.date:
    if not EARLIEST <= value <= LATEST:
        raise ValidationError(f"Must be between {EARLIEST} and {LATEST}.")
    return value


class AnalyticsGroupingQuerySerializer(AnalyticsRangeQuerySerializer, PageQuerySerializer):
    group_by = serializers.ChoiceField(choices=list(GROUP_FIELDS), required=False, help_text="Default: model.")


class AnalyticsUsageQuerySerializer(AnalyticsGroupingQuerySerializer):
    interval = serializers.ChoiceField(
        choices=["hour", "day"], required=False, help_text="Bucket size; default day (in the workspace's timezone)."
    )


# --- responses ---------------------------------------------------------------------------------------------------


class AnalyticsPeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Included.")
    days = serializers.IntegerField()
    timezone = serializers.CharField(source="zone.key", help_text="The workspace's timezone the days are in.")


class AnalyticsGroupFields(serializers.Serializer):
    key = serializers.CharField(
        allow_null=True, help_text="The model id, provider slug, agent id or API key id; null: none (or deleted)."
    )
    label = serializers.CharField(allow_null=True, help_text="The agent's slug, the key's name and mask, …")


class AnalyticsTotalsFields(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_usd = AnalyticsDecimalField()


class AnalyticsUsagePointSerializer(AnalyticsGroupFields, AnalyticsTotalsFields):
    bucket = ZonedDateTimeField(help_text="The hour's or day's start, in the workspace's timezone.")


class AnalyticsCostRowSerializer(AnalyticsGroupFields, AnalyticsTotalsFields):
    error_rate = AnalyticsDecimalField(help_text="Errors over requests, 0–1.")
    average_latency_ms = serializers.IntegerField(allow_null=True)


class AnalyticsPageFields(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    period = AnalyticsPeriodSerializer()
    group_by = serializers.CharField()


class AnalyticsUsagePageSerializer(AnalyticsPageFields):
    interval = serializers.CharField()
    results = AnalyticsUsagePointSerializer(many=True)


class AnalyticsCostPageSerializer(AnalyticsPageFields):
    results = AnalyticsCostRowSerializer(many=True)


class AnalyticsSummarySerializer(AnalyticsTotalsFields):
    period = AnalyticsPeriodSerializer()
    previous_period = AnalyticsPeriodSerializer()
    previous_cost_usd = AnalyticsDecimalField()
    trend_percent = AnalyticsDecimalField(
        allow_null=True, help_text="Cost against the previous period, in %; null when that cost nothing."
    )
    error_rate = AnalyticsDecimalField(help_text="Errors over requests, 0–1.")
    average_latency_ms = serializers.IntegerField(allow_null=True)
    top_models = AnalyticsCostRowSerializer(many=True, help_text="The 3 costliest models of the period.")


# --- views -------------------------------------------------------------------------------------------------------


def _totals(row: dict) -> dict:
    return {
        "requests": row["n_requests"] or 0,
        "errors": row["n_errors"] or 0,
        "prompt_tokens": row["n_prompt_tokens"] or 0,
        "completion_tokens": row["n_completion_tokens"] or 0,
        "total_tokens": (row["n_prompt_tokens"] or 0) + (row["n_completion_tokens"] or 0),
        "cost_usd": row["total_cost_usd"] or Decimal("0"),
    }


def _group(row: dict, labels: dict) -> dict:
    key = row["key"]
    if key in (None, ""):
        return {"key": None, "label": None}
    return {"key": str(key), "label": labels.get(key)}


def analytics_cost_row(row: dict, labels: dict) -> dict:
    return {
        **_group(row, labels),
        **_totals(row),
        "error_rate": usage_error_rate(row),
        "average_latency_ms": usage_average_latency_ms(row),
    }


class AnalyticsPageApi(WorkspaceAPIView):
    """What /usage and /costs share: the period from the query, a page of grouped rows with their labels."""

    def _period(self, wanted: dict) -> AnalyticsPeriod:
        return analytics_period(
            workspace=self.workspace, start=wanted.get("start"), end=wanted.get("end"), period=wanted.get("period")
        )

    def _page(self, rows, group_by: str, period: AnalyticsPeriod, make_row, **extra) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(rows, self.request, view=self)
        labels = usage_group_labels(workspace=self.workspace, group_by=group_by, keys={row["key"] for row in page})
        response = paginator.get_paginated_response([make_row(row, labels) for row in page])
        response.data = {
            **{name: response.data[name] for name in ("count", "next", "previous")},
            "period": AnalyticsPeriodSerializer(period).data,
            "group_by": group_by,
            **extra,
            "results": response.data["results"],
        }
        return response


class AnalyticsUsageApi(AnalyticsPageApi):
    @extend_schema(
        operation_id="analytics_llm_usage",
        tags=["analytics"],
        description=(
            "Usage over time: requests, errors, tokens and cost per hour or day and per model, provider, agent or "
            "API key, oldest bucket first. Read from the hourly rollups; the hours not rolled up yet are read from "
            "their records, so a call shows at once."
        ),
        parameters=[AnalyticsUsageQuerySerializer],
        responses={200: AnalyticsUsagePageSerializer, **PAGE_ERRORS},
    )
    def get(self, request):
        wanted = query_params(AnalyticsUsageQuerySerializer, request)
        group_by, interval = wanted.get("group_by", "model"), wanted.get("interval", "day")
        period = self._period(wanted)
        rows = usage_series(
            workspace=self.workspace, period=period, interval=interval, group_by=group_by, with_unrolled=True
        )

        def point(row: dict, labels: dict) -> dict:
            bucket = row["bucket"].astimezone(period.zone)
            return AnalyticsUsagePointSerializer({"bucket": bucket, **_group(row, labels), **_totals(row)}).data

        return self._page(rows, group_by, period, point, interval=interval)


class AnalyticsCostsApi(AnalyticsPageApi):
    @extend_schema(
        operation_id="analytics_llm_costs",
        tags=["analytics"],
        description=(
            "Totals over the period per model, provider, agent or API key, costliest first: requests, errors and "
            "error rate, tokens, cost and average latency."
        ),
        parameters=[AnalyticsGroupingQuerySerializer],
        responses={200: AnalyticsCostPageSerializer, **PAGE_ERRORS},
    )
    def get(self, request):
        wanted = query_params(AnalyticsGroupingQuerySerializer, request)
        group_by = wanted.get("group_by", "model")
        period = self._period(wanted)
        rows = usage_costs(workspace=self.workspace, period=period, group_by=group_by, with_unrolled=True)

        def cost_row(row: dict, labels: dict) -> dict:
            return AnalyticsCostRowSerializer(analytics_cost_row(row, labels)).data

        return self._page(rows, group_by, period, cost_row)


class AnalyticsSummaryApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="analytics_llm_summary",
        tags=["analytics"],
        description=(
            "The period at a glance: total cost and its trend against the previous period of the same length, "
            "requests, tokens, average latency, error rate and the 3 costliest models."
        ),
        parameters=[AnalyticsRangeQuerySerializer],
        responses={200: AnalyticsSummarySerializer, **ERRORS},
    )
    def get(self, request):
        wanted = query_params(AnalyticsRangeQuerySerializer, request)
        period = analytics_period(
            workspace=self.workspace, start=wanted.get("start"), end=wanted.get("end"), period=wanted.get("period")
        )
        summary = usage_summary(workspace=self.workspace, period=period, with_unrolled=True)
        labels = {row["key"]: row["key"] for row in summary.top_models}
        body = {
            **_totals(summary.totals),
            "period": period,
            "previous_period": period.previous(),
            "previous_cost_usd": summary.previous_cost_usd,
            "trend_percent": summary.trend_percent,
            "error_rate": usage_error_rate(summary.totals),
            "average_latency_ms": usage_average_latency_ms(summary.totals),
            "top_models": [analytics_cost_row(row, labels) for row in summary.top_models],
        }
        return Response(AnalyticsSummarySerializer(body).data)
