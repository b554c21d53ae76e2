"""/api/catalog/compare, /estimate and /recommend: models side by side, what a volume of tokens costs, and which
models suit a task. The logic is in apps/catalog/insights.py (the marketplace pages use it too).

Prices and costs are decimal strings in USD: prices per token and per 1M tokens, costs to 10 decimals at most.
Unknown query parameters and body fields are bad input (400 naming them), so a misspelt filter never goes unnoticed.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.catalog.insights import (
    COMPARE_MAX_MODELS,
    COMPARE_MIN_MODELS,
    ESTIMATE_MAX_MODELS,
    LEVELS,
    RecommendQuery,
    Volume,
    model_compare,
    model_estimate,
    model_recommend,
)
from apps.catalog.models import PowerLevel, TaskType
from apps.core.api import ErrorSerializer, WorkspaceAPIView
from apps.core.api_io import DecimalStringField

MAX_TOKENS_PER_REQUEST = 100_000_000
MAX_REQUESTS = 1_000_000_000
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not a member of the workspace named, or it is deactivated."),
}


@extend_schema_field(OpenApiTypes.DECIMAL)
def _query_params(request, allowed: set[str]) -> dict[str, str]:
    """The query string as a plain dict. A parameter the endpoint does not take, or one given twice, is bad input."""
    errors = {}
    for name in request.query_params:
        if name not in allowed and name != "format":  # `format` picks DRF's renderer
            takes = ", ".join(sorted(allowed)) or "no query parameters"
            errors[name] = [f"Unknown parameter; this endpoint takes {takes}."]
        elif len(request.query_params.getlist(name)) > 1:
            errors[name] = ["Give this parameter once."]
    if errors:
        raise ValidationError(errors)
    return {name: value for name, value in request.query_params.items() if name != "format"}


# --- what the three endpoints share ------------------------------------------------------------------------------


class InsightProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()


class InsightPlanSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class InsightPricesSerializer(serializers.Serializer):
    """USD; null where the catalog has no price (a missing cache price means cached tokens cost the input price)."""

    input_per_token = DecimalStringField(source="input", allow_null=True)
    output_per_token = DecimalStringField(source="output", allow_null=True)
    cache_read_per_token = DecimalStringField(source="cache_read", allow_null=True)
    cache_write_per_token = DecimalStringField(source="cache_write", allow_null=True)
    input_per_million = DecimalStringField(allow_null=True)
    output_per_million = DecimalStringField(allow_null=True)
    cache_read_per_million = DecimalStringField(allow_null=True)
    cache_write_per_million = DecimalStringField(allow_null=True)


class InsightCostPartsSerializer(serializers.Serializer):
    input_usd = DecimalStringField(allow_null=True, help_text="Input tokens neither read from nor written to a cache.")
    cached_input_usd = DecimalStringField(allow_null=True)
    cache_write_usd = DecimalStringField(allow_null=True)
    output_usd = DecimalStringField(allow_null=True)


class InsightCostSerializer(serializers.Serializer):
    """All null when the model's price is unknown: it is never costed at $0."""

    per_request_usd = DecimalStringField(allow_null=True, help_text="What the gateway would charge for one request.")
    total_usd = DecimalStringField(allow_null=True, help_text="per_request_usd × requests.")
    monthly_usd = DecimalStringField(allow_null=True, help_text="per_request_usd × requests_per_month, if given.")
    per_request_parts = InsightCostPartsSerializer(source="*")
    cache_savings_usd = DecimalStringField(
        allow_null=True,
        help_text="Per request, against the same prompt uncached (negative when cache writes cost more).",
    )
    fits_context = serializers.BooleanField(help_text="Whether a request's input + output fits the context window.")
    notes = serializers.ListField(child=serializers.CharField(), help_text="What to know about this figure.")


class InsightAccessFields(serializers.Serializer):
    """The caller's view of a model (reads `access`)."""

    installed = serializers.BooleanField(source="access.installed", help_text="Installed in your workspace.")
    available_on_my_plan = serializers.BooleanField(source="access.available_on_my_plan")
    unlocked_by = InsightPlanSerializer(
        source="access.unlocked_by", allow_null=True, help_text="When your plan does not allow it: a plan that does."
    )


# --- compare -----------------------------------------------------------------------------------------------------


class CompareCapabilitiesSerializer(serializers.Serializer):
    tools = serializers.BooleanField(source="supports_tools")
    vision = serializers.BooleanField(source="supports_vision")
    json = serializers.BooleanField(source="supports_json")
    streaming = serializers.BooleanField(source="supports_streaming")
    reasoning = serializers.BooleanField(source="supports_reasoning")


class CompareHealthSerializer(serializers.Serializer):
    circuit_state = serializers.CharField(help_text="`open`: the gateway skips the model for now.")
    window_seconds = serializers.IntegerField()
    requests = serializers.IntegerField()
    error_rate = DecimalStringField()
    latency_p50_ms = serializers.IntegerField(allow_null=True)
    latency_p95_ms = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField()


class CompareModelSerializer(InsightAccessFields):
    id = serializers.CharField(source="model.model_id", help_text="The canonical model id.")
    display_name = serializers.CharField(source="model.display_name")
    provider = InsightProviderSerializer(source="model.provider")
    mode = serializers.CharField(source="model.mode")
    enabled = serializers.BooleanField(source="model.enabled", help_text="Staff can disable a model.")
    context_window = serializers.IntegerField(source="model.context_window", allow_null=True)
    max_output_tokens = serializers.IntegerField(source="model.max_output_tokens", allow_null=True)
    price_unknown = serializers.BooleanField(source="model.price_unknown")
    prices = InsightPricesSerializer()
    capabilities = CompareCapabilitiesSerializer(source="model")
    category = serializers.CharField(source="model.category")
    power_level = serializers.CharField(source="model.power_level")
    plan_tier = serializers.CharField(source="model.plan_tier")
    quality_score = DecimalStringField(source="model.quality_score", help_text="Overall quality, 0 to 1.")
    task_quality = serializers.DictField(
        child=serializers.FloatField(), help_text='Quality per task (0 to 1) where measured, e.g. `{"code": 0.82}`.'
    )
    popularity = serializers.IntegerField(source="model.popularity")
    released_at = serializers.DateTimeField(source="model.source_created_at", allow_null=True)
    deprecated_at = serializers.DateTimeField(source="model.deprecated_at", allow_null=True)
    health = CompareHealthSerializer(allow_null=True, help_text="The last health rollup; null without recent traffic.")


class CompareWorkloadCostSerializer(serializers.Serializer):
    model = serializers.CharField(source="model_id")
    cost = InsightCostSerializer()


class CompareWorkloadSerializer(serializers.Serializer):
    key = serializers.CharField(source="workload.key")
    name = serializers.CharField(source="workload.name")
    description = serializers.CharField(source="workload.description")
    input_tokens = serializers.IntegerField(source="workload.volume.input_tokens", help_text="Per request.")
    output_tokens = serializers.IntegerField(source="workload.volume.output_tokens", help_text="Per request.")
    cached_input_tokens = serializers.IntegerField(source="workload.volume.cached_input_tokens")
    requests = serializers.IntegerField(source="workload.volume.requests")
    costs = CompareWorkloadCostSerializer(many=True, help_text="In the order of `models`.")
    cheapest = serializers.ListField(
        child=serializers.CharField(), help_text="The lowest total among the models it fits (several on a tie)."
    )


class CompareHighlightsSerializer(serializers.Serializer):
    lowest_input_price = serializers.ListField(child=serializers.CharField())
    lowest_output_price = serializers.ListField(child=serializers.CharField())
    largest_context = serializers.ListField(child=serializers.CharField())
    highest_quality = serializers.ListField(child=serializers.CharField())
    lowest_latency = serializers.ListField(child=serializers.CharField(), help_text="Among models with recent traffic.")


class CompareOutputSerializer(serializers.Serializer):
    models = CompareModelSerializer(many=True, help_text="In the order asked for.")
    workloads = CompareWorkloadSerializer(many=True)
    highlights = CompareHighlightsSerializer(help_text="Which models lead on each figure (several on a tie).")


class CatalogCompareApi(WorkspaceAPIView):
    class CompareInputSerializer(serializers.Serializer):
        models = serializers.CharField(
            max_length=2_000,
            help_text=f"{COMPARE_MIN_MODELS} to {COMPARE_MAX_MODELS} canonical model ids or aliases, comma-separated.",
        )

        def validate_models(self, value: str) -> list[str]:
            names = [name.strip() for name in value.split(",") if name.strip()]
            if not COMPARE_MIN_MODELS <= len(names) <= COMPARE_MAX_MODELS:
                raise ValidationError(
                    f"Compare {COMPARE_MIN_MODELS} to {COMPARE_MAX_MODELS} models; {len(names)} given."
                )
            return names

    @extend_schema(
        operation_id="catalog_compare",
        tags=["catalog"],
        description=(
            "Two to four models side by side: specs, prices, capabilities, per-task quality, health, whether your "
            "plan allows them, and what sample workloads cost on each."
        ),
        parameters=[CompareInputSerializer],
        responses={200: CompareOutputSerializer, **ERRORS},
    )
    def get(self, request):
        serializer = self.CompareInputSerializer(data=_query_params(request, {"models"}))
        serializer.is_valid(raise_exception=True)
        comparison = model_compare(workspace=self.workspace, names=serializer.validated_data["models"])
        return Response(CompareOutputSerializer(comparison).data)


# --- estimate ----------------------------------------------------------------------------------------------------


class EstimateVolumeSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()
    requests_per_month = serializers.IntegerField(allow_null=True)


class EstimateLineSerializer(InsightAccessFields):
    requested = serializers.CharField(help_text="The name given (an alias resolves to its model).")
    model = serializers.CharField(source="model.model_id", help_text="The canonical model id.")
    display_name = serializers.CharField(source="model.display_name")
    provider = InsightProviderSerializer(source="model.provider")
    context_window = serializers.IntegerField(source="model.context_window", allow_null=True)
    price_unknown = serializers.BooleanField(source="model.price_unknown")
    prices = InsightPricesSerializer()
    cost = InsightCostSerializer()


class EstimateOutputSerializer(serializers.Serializer):
    volume = EstimateVolumeSerializer()
    results = EstimateLineSerializer(source="lines", many=True, help_text="In the order asked for.")
    cheapest = serializers.ListField(
        child=serializers.CharField(), help_text="The lowest total among the models it fits (several on a tie)."
    )


def _tokens(help_text: str, **kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_TOKENS_PER_REQUEST, help_text=help_text, **kwargs)


class CatalogEstimateApi(WorkspaceAPIView):
    class EstimateInputSerializer(serializers.Serializer):
        models = serializers.ListField(
            child=serializers.CharField(max_length=255),
            required=False,
            min_length=1,
            max_length=ESTIMATE_MAX_MODELS,
            help_text="Canonical model ids or aliases; default: the models installed in your workspace.",
        )
        input_tokens = _tokens("Input (prompt) tokens per request, cached ones included.")
        output_tokens = _tokens("Output tokens per request.")
        cached_input_tokens = _tokens("Of input_tokens, read from the provider's prompt cache.", default=0)
        cache_write_tokens = _tokens("Of input_tokens, written to the provider's prompt cache.", default=0)
        requests = serializers.IntegerField(
            min_value=1, max_value=MAX_REQUESTS, default=1, help_text="How many such requests."
        )
        requests_per_month = serializers.IntegerField(
            min_value=1,
            max_value=MAX_REQUESTS,
            required=False,
            allow_null=True,
            help_text="A monthly volume of such requests: adds monthly_usd.",
        )

        def validate(self, attrs: dict) -> dict:
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise ValidationError({name: ["Unknown field."] for name in unknown})
            if attrs["input_tokens"] + attrs["output_tokens"] == 0:
                raise ValidationError({"input_tokens": ["Give some input or output tokens."]})
            if attrs["cached_input_tokens"] + attrs["cache_write_tokens"] > attrs["input_tokens"]:
                raise ValidationError(
                    {"cached_input_tokens": ["Cached and cache-write tokens are part of input_tokens: at most that."]}
                )
            return attrs

    @extend_schema(
        operation_id="catalog_estimate",
        tags=["catalog"],
        description=(
            "What requests of a given size cost on one or many models: per request (split into fresh input, cached "
            "input, cache writes and output, each at its own price), for a number of requests, and for a monthly "
            "volume. The figures are what the gateway would charge."
        ),
        request=EstimateInputSerializer,
        responses={200: EstimateOutputSerializer, **ERRORS},
    )
    def post(self, request):
        _query_params(request, set())
        serializer = self.EstimateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        volume = Volume(
            input_tokens=data["input_tokens"],
            output_tokens=data["output_tokens"],
            cached_input_tokens=data["cached_input_tokens"],
            cache_write_tokens=data["cache_write_tokens"],
            requests=data["requests"],
            requests_per_month=data.get("requests_per_month"),
        )
        estimate = model_estimate(workspace=self.workspace, names=data.get("models"), volume=volume)
        return Response(EstimateOutputSerializer(estimate).data)


# --- recommend ---------------------------------------------------------------------------------------------------


class RecommendedSerializer(InsightAccessFields):
    rank = serializers.IntegerField()
    model = serializers.CharField(source="model.model_id", help_text="The canonical model id.")
    display_name = serializers.CharField(source="model.display_name")
    provider = InsightProviderSerializer(source="model.provider")
    power_level = serializers.CharField(source="model.power_level")
    context_window = serializers.IntegerField(source="model.context_window", allow_null=True)
    prices = InsightPricesSerializer()
    score = serializers.FloatField(help_text="The router's score: higher is better.")
    score_parts = serializers.DictField(
        child=serializers.FloatField(), help_text="cost, latency and quality (weighted), tier (a penalty)."
    )
    task_quality = serializers.FloatField(help_text="Its quality for the task, 0 to 1.")
    quality_source = serializers.CharField(
        allow_null=True, help_text="Where task_quality comes from; null: the model's overall quality."
    )
    cost = InsightCostSerializer(help_text="One request of input_tokens + output_tokens.")
    latency_p50_ms = serializers.IntegerField(allow_null=True, help_text="From the last health rollup.")
    reason = serializers.CharField(help_text="Why it ranks here, in a few sentences.")


class RecommendWeightsSerializer(serializers.Serializer):
    cost = serializers.FloatField()
    latency = serializers.FloatField()
    quality = serializers.FloatField()


class RecommendOutputSerializer(serializers.Serializer):
    task = serializers.CharField(source="query.task")
    complexity = serializers.CharField(source="query.complexity")
    budget = serializers.CharField(source="query.budget")
    plan = InsightPlanSerializer(help_text="The plan whose models were considered.")
    target_power_level = serializers.CharField()
    weights = RecommendWeightsSerializer()
    candidates_total = serializers.IntegerField(help_text="Models that met every requirement, before the limit.")
    results = RecommendedSerializer(many=True)


class CatalogRecommendApi(WorkspaceAPIView):
    class RecommendInputSerializer(serializers.Serializer):
        task = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.CHAT)
        complexity = serializers.ChoiceField(
            choices=LEVELS, default="medium", help_text="`high` aims a tier up, `low` a tier down."
        )
        budget = serializers.ChoiceField(
            choices=LEVELS,
            default="medium",
            help_text="`low`: cost weighs most and a tier down; `high`: quality weighs most; `medium`: your weights.",
        )
        power_level = serializers.ChoiceField(
            choices=PowerLevel.choices, required=False, help_text="Default: your workspace's preferred level."
        )
        plan = serializers.SlugField(
            required=False, max_length=32, help_text="Models of this plan (its slug); default: your plan's."
        )
        tools = serializers.BooleanField(required=False, help_text="Needs tool calls.")
        vision = serializers.BooleanField(required=False, help_text="Needs image input.")
        json = serializers.BooleanField(required=False, help_text="Needs JSON output.")
        reasoning = serializers.BooleanField(required=False, help_text="Needs a reasoning model.")
        min_context = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_TOKENS_PER_REQUEST, help_text="Smallest context window."
        )
        installed = serializers.BooleanField(
            required=False, help_text="`true`: only models installed in your workspace; `false`: only others."
        )
        input_tokens = _tokens("A typical request's input tokens, for the cost.", default=2_000)
        output_tokens = _tokens("A typical request's output tokens, for the cost.", default=500)
        limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

        def validate_plan(self, value: str):
            from apps.workspaces.models import Plan

            plan = Plan.objects.filter(slug=value).first()
            if plan is None:
                raise ValidationError(f"No plan '{value}'.")
            return plan

    @extend_schema(
        operation_id="catalog_recommend",
        tags=["catalog"],
        description=(
            "The models that suit a task best, ranked by the router's own scoring for your complexity, budget "
            "preference and plan, each with the reason. Only models that can be called now are considered: enabled, "
            "priced, not deprecated, not behind an open circuit."
        ),
        parameters=[RecommendInputSerializer],
        responses={200: RecommendOutputSerializer, **ERRORS},
    )
    def get(self, request):
        serializer = self.RecommendInputSerializer(
            data=_query_params(request, set(self.RecommendInputSerializer().fields))
        )
        serializer.is_valid(raise_exception=True)
        recommendation = model_recommend(workspace=self.workspace, query=RecommendQuery(**serializer.validated_data))
        return Response(RecommendOutputSerializer(recommendation).data)
