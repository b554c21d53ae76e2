"""/api/catalog: the model catalog and its providers, as the caller's workspace sees them (installed, allowed by
its plan). Reads only; the queries are apps/catalog/selectors.py and the filters apps/catalog/filters.py, which
the marketplace pages use too.

Prices are USD decimal strings, per 1M tokens (as people quote them) and per token (as the gateway charges).
"""

from decimal import Decimal

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apps.analytics.models import CircuitState
from apps.core.api import ErrorSerializer, PagePagination, WorkspaceAPIView

from .classify import PER_MILLION
from .filters import CatalogModelFilter, ProviderFilter
from .models import AdapterKind, Category, Model, ModelMode, PlanTier, PowerLevel, PrivacyClass, Provider
from .selectors import (
    PRICE_HISTORY_LIMIT,
    SIMILAR_MODELS,
    ProviderHealthStatus,
    catalog_model_blended_price,
    catalog_model_detail_get,
    catalog_model_list,
    provider_health,
    provider_list,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input: an unknown or unreadable query parameter, named."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not a member of the workspace, or it is deactivated."),
    404: OpenApiResponse(ErrorSerializer, description="No such model in the catalog, or no such page."),
}
PAGE_PARAMETERS = ("page", "page_size")
PAGE_SIZE_PARAMETER = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": PagePagination.max_page_size},
    description=f"Results per page, 1 to {PagePagination.max_page_size} (default {PagePagination.page_size}).",
)


@extend_schema_field({"type": "string", "format": "decimal"})
class PriceField(serializers.Field):
    """A per-token price as a plain decimal string, per token or scaled to 1M tokens."""

    def __init__(self, *, per_million: bool, **kwargs):
        self.per_million = per_million
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return price_text(value, per_million=self.per_million)


def price_text(value: Decimal, *, per_million: bool) -> str:
    """`0.00000015` per token, `0.15` per 1M: exact, without an exponent or trailing zeros."""
    return format((value * PER_MILLION if per_million else value).normalize(), "f")


def _price(field: str, *, per_million: bool) -> PriceField:
    unit = "per 1M tokens" if per_million else "per token"
    return PriceField(source=field, per_million=per_million, help_text=f"USD {unit}; null when unknown.")


class ModelPricingSerializer(serializers.Serializer):
    input_per_million = _price("input_price", per_million=True)
    output_per_million = _price("output_price", per_million=True)
    cache_read_per_million = _price("cache_read_price", per_million=True)
    cache_write_per_million = _price("cache_write_price", per_million=True)
    blended_per_million = serializers.SerializerMethodField(
        help_text="(input + 3 x output) / 4, USD per 1M tokens; null when unknown."
    )
    input_per_token = _price("input_price", per_million=False)
    output_per_token = _price("output_price", per_million=False)
    cache_read_per_token = _price("cache_read_price", per_million=False)
    cache_write_per_token = _price("cache_write_price", per_million=False)
    unknown = serializers.BooleanField(
        source="price_unknown", help_text="No known price: the gateway never costs such a model at $0."
    )

    @extend_schema_field({"type": "string", "format": "decimal", "nullable": True})
    def get_blended_per_million(self, model: Model) -> str | None:
        blended = catalog_model_blended_price(model)
        return None if blended is None else price_text(blended, per_million=True)


class ModelCapabilitiesSerializer(serializers.Serializer):
    tools = serializers.BooleanField(source="supports_tools")
    vision = serializers.BooleanField(source="supports_vision")
    json = serializers.BooleanField(source="supports_json")
    streaming = serializers.BooleanField(source="supports_streaming")
    reasoning = serializers.BooleanField(source="supports_reasoning")


class ProviderRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField(help_text="Staff enabled it: its models can be called.")


class CatalogModelOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="model_id", help_text="The canonical id, e.g. `openai/gpt-4o-mini`.")
    name = serializers.CharField(source="display_name")
    provider = ProviderRefSerializer()
    mode = serializers.ChoiceField(choices=ModelMode.choices)
    context_window = serializers.IntegerField(allow_null=True)
    max_output_tokens = serializers.IntegerField(allow_null=True)
    pricing = ModelPricingSerializer(source="*")
    capabilities = ModelCapabilitiesSerializer(source="*")
    category = serializers.ChoiceField(choices=Category.choices)
    power_level = serializers.ChoiceField(choices=PowerLevel.choices)
    plan_tier = serializers.ChoiceField(choices=PlanTier.choices, help_text="The lowest plan level it belongs to.")
    quality_score = serializers.FloatField(help_text="0..1, a seed until benchmark scores exist.")
    popularity = serializers.IntegerField()
    released_at = serializers.DateTimeField(help_text="Release date from its source, else the date it was added.")
    deprecated = serializers.BooleanField(source="is_deprecated")
    deprecated_at = serializers.DateTimeField(allow_null=True)
    installed = serializers.BooleanField(source="is_installed", help_text="Installed in your workspace.")
    available_on_plan = serializers.BooleanField(source="is_available", help_text="Your plan allows it.")


class PriceChangeOutputSerializer(serializers.Serializer):
    changed_at = serializers.DateTimeField()
    source = serializers.CharField()
    old_input_per_million = _price("old_input_price", per_million=True)
    new_input_per_million = _price("new_input_price", per_million=True)
    old_output_per_million = _price("old_output_price", per_million=True)
    new_output_per_million = _price("new_output_price", per_million=True)
    old_cache_read_per_million = _price("old_cache_read_price", per_million=True)
    new_cache_read_per_million = _price("new_cache_read_price", per_million=True)
    old_cache_write_per_million = _price("old_cache_write_price", per_million=True)
    new_cache_write_per_million = _price("new_cache_write_price", per_million=True)


class ModelHealthSummarySerializer(serializers.Serializer):
    circuit_state = serializers.ChoiceField(
        choices=CircuitState.choices, help_text="`open`: the gateway skips the model; `closed`: in service."
    )
    window_seconds = serializers.IntegerField()
    requests = serializers.IntegerField()
    error_rate = serializers.FloatField()
    latency_p50_ms = serializers.IntegerField(allow_null=True)
    latency_p95_ms = serializers.IntegerField(allow_null=True)
    ttft_p50_ms = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField()


class CatalogModelListApi(WorkspaceAPIView, GenericAPIView):
    filter_backends = [DjangoFilterBackend]
    filterset_class = CatalogModelFilter
    pagination_class = PagePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the filters, without a request
            return Model.objects.none()
        return catalog_model_list(workspace=self.workspace)

    @extend_schema(
        operation_id="catalog_models_list",
        tags=["catalog"],
        description=(
            "The model catalog, most popular first: every model staff have not disabled, deprecated ones flagged. "
            "Filters combine (AND); list filters take comma-separated values (any of them). Prices are per 1M "
            "tokens. Unknown parameters are refused."
        ),
        parameters=[PAGE_SIZE_PARAMETER],
        responses={200: CatalogModelOutputSerializer(many=True), **{s: ERRORS[s] for s in (400, 401, 403, 404)}},
    )
    def get(self, request):
        _refuse_unknown_parameters(request, self.filterset_class)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(CatalogModelOutputSerializer(page, many=True).data)


class CatalogModelDetailApi(WorkspaceAPIView):
    class CatalogModelDetailOutputSerializer(CatalogModelOutputSerializer):
        description = serializers.CharField()
        aliases = serializers.ListField(
            source="alias_names", child=serializers.CharField(), help_text="Other names it answers to."
        )
        pricing_extra = serializers.DictField(help_text="Tiered or conditional prices, per token, from the source.")
        price_history = PriceChangeOutputSerializer(
            many=True, help_text=f"Recorded price changes, newest first (at most {PRICE_HISTORY_LIMIT})."
        )
        task_quality = serializers.DictField(
            child=serializers.FloatField(), help_text="Score 0..1 per task (code, math, …) the router uses."
        )
        health = ModelHealthSummarySerializer(
            source="health_summary",
            allow_null=True,
            help_text="The last health rollup (every minute); null before any traffic.",
        )
        similar = CatalogModelOutputSerializer(
            many=True,
            help_text=f"Up to {SIMILAR_MODELS} current models of the same mode and category, closest in price.",
        )

    @extend_schema(
        operation_id="catalog_models_retrieve",
        tags=["catalog"],
        description="One model by its canonical id (slashes included) or an alias, with everything known about it.",
        parameters=[OpenApiParameter("model_id", str, OpenApiParameter.PATH, description="e.g. openai/gpt-4o-mini")],
        responses={200: CatalogModelDetailOutputSerializer, **{s: ERRORS[s] for s in (401, 403, 404)}},
    )
    def get(self, request, model_id: str):
        _refuse_unknown_parameters(request, None)
        model = catalog_model_detail_get(workspace=self.workspace, model_id=model_id)
        if model is None:
            raise NotFound(f"No model '{model_id}' in the catalog.")
        return Response(self.CatalogModelDetailOutputSerializer(model).data)


class ProviderHealthOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[(s.value, s.value) for s in ProviderHealthStatus],
        help_text=(
            "`operational`; `degraded`: a model's circuit is open or half open, or the error rate is at the "
            "gateway's threshold; `down`: every reporting model's circuit is open; `unknown`: no recent traffic."
        ),
    )
    requests = serializers.IntegerField(help_text="Requests in the models' last health windows.")
    error_rate = serializers.FloatField(allow_null=True, help_text="Provider failures over requests.")
    models_reporting = serializers.IntegerField()
    open_circuits = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)


class ProviderOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField(help_text="Staff enabled it: its models can be called.")
    adapter_kind = serializers.ChoiceField(choices=AdapterKind.choices, help_text="The wire format it speaks.")
    privacy_class = serializers.ChoiceField(
        choices=PrivacyClass.choices, help_text="`local` and `trusted` providers serve privacy-routed requests."
    )
    model_count = serializers.IntegerField(help_text="Models in the catalog (deprecated ones included).")
    deprecated_model_count = serializers.IntegerField()
    installed_model_count = serializers.IntegerField(help_text="Its models installed in your workspace.")
    health = serializers.SerializerMethodField()

    @extend_schema_field(ProviderHealthOutputSerializer)
    def get_health(self, provider: Provider) -> dict:
        return ProviderHealthOutputSerializer(provider_health(provider)).data


class ProviderListApi(WorkspaceAPIView, GenericAPIView):
    filter_backends = [DjangoFilterBackend]
    filterset_class = ProviderFilter
    pagination_class = PagePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Provider.objects.none()
        return provider_list(workspace=self.workspace)

    @extend_schema(
        operation_id="catalog_providers_list",
        tags=["catalog"],
        description="Every provider, enabled first, with its model counts and health over the last few minutes.",
        parameters=[PAGE_SIZE_PARAMETER],
        responses={200: ProviderOutputSerializer(many=True), **{s: ERRORS[s] for s in (400, 401, 403, 404)}},
    )
    def get(self, request):
        _refuse_unknown_parameters(request, self.filterset_class)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ProviderOutputSerializer(page, many=True).data)


class _PageSerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=PagePagination.max_page_size)


def _refuse_unknown_parameters(request, filterset_class) -> None:
    """A typo in a filter must not quietly return the whole catalog: unknown parameters, and pages that are not
    positive numbers, are 400 naming them."""
    known = set(filterset_class.base_filters) | set(PAGE_PARAMETERS) if filterset_class else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = f"the parameters are: {', '.join(sorted(known))}" if known else "this endpoint takes none"
        raise ValidationError({name: [f"Unknown parameter; {allowed}."] for name in unknown})
    pages = {name: request.query_params[name] for name in PAGE_PARAMETERS if name in request.query_params}
    if pages:
        _PageSerializer(data=pages).is_valid(raise_exception=True)
