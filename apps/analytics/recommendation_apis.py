"""GET /api/analytics/llm/recommendations: what the workspace could change, from its own traffic (the logic and its
rules are in apps/analytics/recommendations.py). Money is a decimal string in USD; rates and qualities 0 to 1."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from apps.core.api import PagePagination, WorkspaceAPIView
from apps.core.api_io import DecimalStringField, PageQuerySerializer, api_errors, query_params

from .recommendations import KINDS, usage_recommendations

MAX_DAYS = 90


class AnalyticsRecommendationAgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()


class AnalyticsRecommendationFiguresSerializer(serializers.Serializer):
    """The numbers behind a recommendation; null where its kind has none."""

    requests = serializers.IntegerField(allow_null=True, help_text="Requests in the period.")
    errors = serializers.IntegerField(allow_null=True, help_text="Of them, failed.")
    error_rate = DecimalStringField(allow_null=True, help_text="errors / requests in your traffic.")
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    spend_usd = DecimalStringField(allow_null=True, help_text="What those requests were charged.")
    current_cost_usd = DecimalStringField(
        allow_null=True, help_text="The period's tokens at the current model's catalog price."
    )
    suggested_cost_usd = DecimalStringField(
        allow_null=True, help_text="The same tokens at the suggested model's price."
    )
    monthly_saving_usd = DecimalStringField(allow_null=True, help_text="The difference, scaled to 30 days.")
    saving_percent = DecimalStringField(allow_null=True)
    current_quality = DecimalStringField(allow_null=True, help_text="On the traffic's task mix, 0 to 1.")
    suggested_quality = DecimalStringField(allow_null=True)
    task_mix = serializers.DictField(
        child=DecimalStringField(),
        help_text='Share of requests per detected task, e.g. {"code": "0.75", "unknown": "0.25"}.',
    )
    health_error_rate = DecimalStringField(allow_null=True, help_text="From the model's last health rollup.")
    health_requests = serializers.IntegerField(allow_null=True)
    circuit_state = serializers.CharField(allow_null=True)
    installed_at = serializers.DateTimeField(allow_null=True)


class AnalyticsRecommendationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    message = serializers.CharField()
    model = serializers.CharField(help_text="The canonical id of the model it is about.")
    suggested_model = serializers.CharField(allow_null=True, help_text="For cheaper_model: the model to switch to.")
    suggested_installed = serializers.BooleanField(
        allow_null=True, help_text="For cheaper_model: whether it is installed in your workspace (install it first)."
    )
    agent = AnalyticsRecommendationAgentSerializer(
        allow_null=True, help_text="For cheaper_model: the agent whose traffic it is (null: requests without one)."
    )
    figures = AnalyticsRecommendationFiguresSerializer()


class AnalyticsRecommendationPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    days = serializers.IntegerField()


class AnalyticsRecommendationPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    period = AnalyticsRecommendationPeriodSerializer()
    results = AnalyticsRecommendationSerializer(many=True)


class AnalyticsRecommendationListApi(WorkspaceAPIView):
    class AnalyticsRecommendationQuerySerializer(PageQuerySerializer):
        days = serializers.IntegerField(
            required=False, default=30, min_value=1, max_value=MAX_DAYS, help_text="The period: the last N days."
        )
        kind = serializers.ChoiceField(required=False, choices=KINDS, help_text="Only recommendations of this kind.")

    @extend_schema(
        operation_id="analytics_llm_recommendations",
        tags=["analytics"],
        description=(
            "From the workspace's traffic over the last `days` days: for each agent and model, a cheaper model of "
            "comparable quality on the task mix the router detected, with the monthly saving at that traffic "
            "(largest first); models that fail too often (in your traffic or their latest health figures); "
            "installed models that had no request."
        ),
        parameters=[AnalyticsRecommendationQuerySerializer],
        responses={200: AnalyticsRecommendationPageSerializer, **api_errors()},
    )
    def get(self, request):
        wanted = query_params(self.AnalyticsRecommendationQuerySerializer, request)
        found = usage_recommendations(workspace=self.workspace, days=wanted["days"], kind=wanted.get("kind"))
        paginator = PagePagination()
        page = paginator.paginate_queryset(found.results, request, view=self)
        response = paginator.get_paginated_response(AnalyticsRecommendationSerializer(page, many=True).data)
        response.data["period"] = AnalyticsRecommendationPeriodSerializer(found.period).data
        return response
