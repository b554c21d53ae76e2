"""/api/staff: provider, model and plan-gating management for staff, mirroring the admin.

Only a staff member may call it: signed in, or with an API key a staff member created. As in the admin, reading
needs the model's view (or change) permission and writing its change permission; superusers have every permission.
Everyone else gets 403. Providers, models and plans are platform-wide, so these endpoints are not workspace-scoped.
"""

from collections.abc import Mapping
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import F, Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from apps.core.api import ErrorSerializer, PagePagination
from apps.keys.authentication import request_workspace
from apps.keys.models import ApiKey
from apps.workspaces.models import ModelAccess

from .models import Category, Model, ModelMode, ModelSource, PlanTier, PowerLevel, PrivacyClass, Provider
from .services import SYNCED_FIELDS
from .staff import (
    model_plan_slugs,
    model_staff_update,
    models_staff_bulk_update,
    plan_gating_update,
    plan_listed_model_list,
    plan_model_remove,
    plan_models_add,
    provider_staff_update,
    staff_model_get,
    staff_model_list,
    staff_models_find,
    staff_plan_get,
    staff_plan_list,
    staff_provider_get,
    staff_provider_list,
)

PER_MILLION = Decimal(1_000_000)
# The largest value of the positive integer columns on every supported database (PostgreSQL's `integer`).
MAX_INT = 2_147_483_647
MAX_MODELS_PER_CALL = 1000

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not staff, or without the permission this needs."),
    404: OpenApiResponse(ErrorSerializer, description="No such object."),
}


def _errors(*statuses: int) -> dict:
    return {code: ERRORS[code] for code in (400, 401, 403, *statuses)}


# Who may call ---------------------------------------------------------------------------------------------------


class IsStaffWithPermission(BasePermission):
    """A staff member (session, or an API key they created) holding the view's permission for the method."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            request_workspace(request)  # a key of a deactivated workspace works nowhere
        user = request.user
        if not user.is_authenticated:
            if request.auth is None:
                return False  # DRF answers 401 and asks for credentials
            raise PermissionDenied("Staff only: this API key has no staff member behind it.")
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("Staff only.")
        app_label, model_name = view.staff_permission_model.split(".")
        if request.method in ("GET", "HEAD", "OPTIONS"):
            needed = [f"{app_label}.view_{model_name}", f"{app_label}.change_{model_name}"]
        else:
            needed = [f"{app_label}.change_{model_name}"]
        if not any(user.has_perm(perm) for perm in needed):
            raise PermissionDenied(f"You need the permission {needed[-1]!r} for this.")
        return True


class SchemaOnlyMetadata(SimpleMetadata):
    """OPTIONS names the view and its formats and leaves the input to /api/schema/: DRF's own description of POST
    and PUT input asks a GenericAPIView for its one serializer_class, which these views do not have (a 500)."""

    def determine_actions(self, request, view) -> dict:
        return {}


class StaffAPIView(GenericAPIView):
    """Base of the /api/staff views: staff only, and every query parameter must be one the view knows."""

    permission_classes = [IsStaffWithPermission]
    metadata_class = SchemaOnlyMetadata
    parser_classes = [JSONParser]
    filter_backends: list = []
    staff_permission_model: str = ""  # "app_label.model": its view_/change_ permissions guard the view

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self._check_query_params(request)

    def _check_query_params(self, request) -> None:
        reading = request.method in ("GET", "HEAD")
        allowed: set[str] = set()
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None and reading:
            allowed |= set(filterset_class.base_filters)
        paginated = self.pagination_class is not None and reading
        if paginated:
            allowed |= {"page", "page_size"}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        if paginated:
            _check_positive_int(request, "page")
            _check_positive_int(request, "page_size", maximum=PagePagination.max_page_size)

    @property
    def actor(self):
        return self.request.user if self.request.user.is_authenticated else None

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _check_positive_int(request, name: str, maximum: int | None = None) -> None:
    value = request.query_params.get(name)
    if value is None:
        return
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValidationError({name: ["A whole number of at least 1."]})
    if maximum is not None and int(value) > maximum:
        raise ValidationError({name: [f"At most {maximum}."]})


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not know (a typo must not be a silent no-op) and a body that changes nothing."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if not attrs:
            raise ValidationError({"non_field_errors": ["Send at least one field to change."]})
        return attrs


# Output ---------------------------------------------------------------------------------------------------------


def _decimal_text(value: Decimal | None) -> str | None:
    """`Decimal("0.000002500000000")` → "0.0000025": exact, without the column's trailing zeros or an exponent."""
    return None if value is None else format(value.normalize(), "f")


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "0.00000015"})
class PriceField(serializers.Field):
    """A price in USD as a decimal string without trailing zeros; `per_million` gives it per 1M tokens."""

    def __init__(self, *, per_million: bool = False, **kwargs):
        self.per_million = per_million
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return _decimal_text(value * PER_MILLION if self.per_million and value is not None else value)


class StaffProviderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    adapter_kind = serializers.CharField()
    base_url = serializers.CharField()
    enabled = serializers.BooleanField()
    priority = serializers.IntegerField(help_text="Lower is preferred when several providers can serve.")
    privacy_class = serializers.CharField()
    env_key_name = serializers.CharField()
    platform_key_mask = serializers.CharField(help_text="Only the mask of the platform key; empty when none is set.")
    model_count = serializers.IntegerField()
    enabled_model_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ModelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_id = serializers.CharField()
    provider = serializers.CharField(source="provider.slug")
    upstream_name = serializers.CharField()
    display_name = serializers.CharField()
    mode = serializers.CharField()
    enabled = serializers.BooleanField()
    category = serializers.CharField()
    plan_tier = serializers.CharField()
    power_level = serializers.CharField()
    quality_score = serializers.SerializerMethodField()
    default_installed = serializers.BooleanField()
    popularity = serializers.IntegerField()
    context_window = serializers.IntegerField(allow_null=True)
    max_output_tokens = serializers.IntegerField(allow_null=True)
    input_price = PriceField(help_text="USD per token.")
    output_price = PriceField(help_text="USD per token.")
    cache_read_price = PriceField(help_text="USD per cached input token read.")
    cache_write_price = PriceField(help_text="USD per input token written to the cache.")
    input_price_per_million = PriceField(source="input_price", per_million=True)
    output_price_per_million = PriceField(source="output_price", per_million=True)
    cache_read_price_per_million = PriceField(source="cache_read_price", per_million=True)
    cache_write_price_per_million = PriceField(source="cache_write_price", per_million=True)
    price_unknown = serializers.BooleanField(help_text="No known price: the model is never costed at $0.")
    supports_tools = serializers.BooleanField()
    supports_vision = serializers.BooleanField()
    supports_json = serializers.BooleanField()
    supports_streaming = serializers.BooleanField()
    supports_reasoning = serializers.BooleanField()
    source = serializers.CharField()
    deprecated_at = serializers.DateTimeField(allow_null=True)
    hand_edited_fields = serializers.ListField(
        child=serializers.CharField(), help_text="Fields staff changed by hand; the catalog sync leaves them alone."
    )
    updated_at = serializers.DateTimeField()

    def get_quality_score(self, model: Model) -> str:
        return _decimal_text(model.quality_score)


class ModelDetailOutputSerializer(ModelOutputSerializer):
    description = serializers.CharField()
    pricing_extra = serializers.DictField(help_text="Tiered or conditional prices, as the source gives them.")
    source_created_at = serializers.DateTimeField(allow_null=True)
    plans = serializers.ListField(
        child=serializers.CharField(), help_text="Slugs of the plans that allow this model, by rule or by listing."
    )


class PlanOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    sort_order = serializers.IntegerField()
    is_default = serializers.BooleanField()
    model_access = serializers.CharField(
        help_text="default: default models only; tiers: models of the allowed tiers; all: every model. "
        "Listed models are allowed in every case."
    )
    allowed_tiers = serializers.ListField(child=serializers.CharField())
    allowed_model_count = serializers.IntegerField(help_text="How many models the plan lists as always allowed.")
    workspace_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ModelIdsField(serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.CharField(max_length=255),
            min_length=1,
            max_length=MAX_MODELS_PER_CALL,
            help_text=f"Canonical model ids, at most {MAX_MODELS_PER_CALL}.",
            **kwargs,
        )


def _models_or_400(model_ids: list[str]):
    models, missing = staff_models_find(model_ids=model_ids)
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise ValidationError({"models": [f"No model with the id: {shown}."]})
    return models


class StableOrderingFilter(django_filters.OrderingFilter):
    """`?ordering=`, empty values last whichever the direction (as on every database), then the primary key: rows
    that tie (most models have popularity 0) keep one order from page to page, so paging never repeats or skips one."""

    def filter(self, qs, value):
        if not value:
            return qs
        fields = [self.get_ordering_value(param) for param in value]
        return qs.order_by(
            *(F(f[1:]).desc(nulls_last=True) if f.startswith("-") else F(f).asc(nulls_last=True) for f in fields), "pk"
        )


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Use true or false.")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.BooleanFilter):
    """`true` or `false` (or 1/0); anything else is refused, where django-filter would ignore the filter."""

    field_class = StrictBooleanField


# Providers ------------------------------------------------------------------------------------------------------


class ProviderFilter(django_filters.FilterSet):
    enabled = StrictBooleanFilter()
    adapter_kind = django_filters.ChoiceFilter(choices=Provider._meta.get_field("adapter_kind").choices)
    privacy_class = django_filters.ChoiceFilter(choices=PrivacyClass.choices)
    q = django_filters.CharFilter(method="search", max_length=255, label="Search slug and name.")
    ordering = StableOrderingFilter(fields=["priority", "slug", "name", "updated_at"])

    class Meta:
        model = Provider
        fields: list[str] = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))


class StaffProviderListApi(StaffAPIView):
    """Every provider with its model counts, as the admin lists them."""

    staff_permission_model = "catalog.provider"
    filter_backends = [DjangoFilterBackend]
    filterset_class = ProviderFilter
    pagination_class = PagePagination

    def get_queryset(self):
        return staff_provider_list()

    @extend_schema(
        operation_id="staff_providers_list",
        tags=["staff"],
        responses={200: StaffProviderOutputSerializer(many=True), **_errors()},
    )
    def get(self, request):
        return self.paginated(self.filter_queryset(self.get_queryset()), StaffProviderOutputSerializer)


class StaffProviderDetailApi(StaffAPIView):
    """One provider; staff enable or disable it, set its priority, address, privacy class and platform key."""

    staff_permission_model = "catalog.provider"

    class ProviderUpdateInputSerializer(StrictInputSerializer):
        name = serializers.CharField(required=False, max_length=128)
        base_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
        enabled = serializers.BooleanField(required=False)
        priority = serializers.IntegerField(required=False, min_value=-1_000_000, max_value=1_000_000)
        privacy_class = serializers.ChoiceField(required=False, choices=PrivacyClass.choices)
        env_key_name = serializers.RegexField(
            r"^[A-Za-z_][A-Za-z0-9_]*$", required=False, allow_blank=True, max_length=64
        )
        platform_key = serializers.CharField(
            required=False,
            allow_blank=True,
            write_only=True,
            max_length=4096,
            help_text='Write-only; "" removes it. Only its mask is ever shown.',
            style={"input_type": "password"},
        )

    @extend_schema(
        operation_id="staff_providers_get",
        tags=["staff"],
        responses={200: StaffProviderOutputSerializer, **_errors(404)},
    )
    def get(self, request, slug: str):
        return Response(StaffProviderOutputSerializer(_provider_or_404(slug)).data)

    @extend_schema(
        operation_id="staff_providers_update",
        tags=["staff"],
        request=ProviderUpdateInputSerializer,
        responses={200: StaffProviderOutputSerializer, **_errors(404)},
    )
    def patch(self, request, slug: str):
        provider = _provider_or_404(slug)
        serializer = self.ProviderUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        platform_key = changes.pop("platform_key", None)
        provider_staff_update(
            provider=provider, changes=changes, platform_key=platform_key, actor=self.actor, api_key=self.api_key
        )
        return Response(StaffProviderOutputSerializer(_provider_or_404(slug)).data)


def _provider_or_404(slug: str) -> Provider:
    provider = staff_provider_get(slug=slug)
    if provider is None:
        raise NotFound(f"No provider '{slug}'.")
    return provider


# Models ---------------------------------------------------------------------------------------------------------


class ModelFilter(django_filters.FilterSet):
    provider = django_filters.CharFilter(method="filter_provider", max_length=64, label="A provider's slug.")
    category = django_filters.ChoiceFilter(choices=Category.choices)
    plan_tier = django_filters.ChoiceFilter(choices=PlanTier.choices)
    power_level = django_filters.ChoiceFilter(choices=PowerLevel.choices)
    mode = django_filters.ChoiceFilter(choices=ModelMode.choices)
    source = django_filters.ChoiceFilter(choices=ModelSource.choices)
    enabled = StrictBooleanFilter()
    price_unknown = StrictBooleanFilter()
    default_installed = StrictBooleanFilter()
    deprecated = StrictBooleanFilter(field_name="deprecated_at", lookup_expr="isnull", exclude=True)
    hand_edited = StrictBooleanFilter(method="filter_hand_edited", label="Has fields pinned by staff.")
    q = django_filters.CharFilter(method="search", max_length=255, label="Search the id, display and upstream name.")
    ordering = StableOrderingFilter(
        fields=["model_id", "popularity", "input_price", "output_price", "context_window", "updated_at"]
    )

    class Meta:
        model = Model
        fields: list[str] = []

    def filter_provider(self, queryset, name, value):
        if not Provider.objects.filter(slug=value).exists():
            raise ValidationError({"provider": [f"No provider '{value}'."]})
        return queryset.filter(provider__slug=value)

    def filter_hand_edited(self, queryset, name, value):
        pinned = ~Q(hand_edited_fields=[])
        return queryset.filter(pinned) if value else queryset.exclude(pinned)

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(model_id__icontains=value) | Q(display_name__icontains=value) | Q(upstream_name__icontains=value)
        )


class StaffModelListApi(StaffAPIView):
    """Every catalog model, with the admin's filters, search and sort."""

    staff_permission_model = "catalog.model"
    filter_backends = [DjangoFilterBackend]
    filterset_class = ModelFilter
    pagination_class = PagePagination

    def get_queryset(self):
        return staff_model_list()

    @extend_schema(
        operation_id="staff_models_list", tags=["staff"], responses={200: ModelOutputSerializer(many=True), **_errors()}
    )
    def get(self, request):
        return self.paginated(self.filter_queryset(self.get_queryset()), ModelOutputSerializer)


class StaffModelBulkUpdateApi(StaffAPIView):
    """The admin's bulk actions: enable or disable the named models, set their plan tier, category or power level."""

    staff_permission_model = "catalog.model"

    class ModelBulkUpdateInputSerializer(StrictInputSerializer):
        models = ModelIdsField()
        enabled = serializers.BooleanField(required=False)
        plan_tier = serializers.ChoiceField(required=False, choices=PlanTier.choices)
        category = serializers.ChoiceField(required=False, choices=Category.choices)
        power_level = serializers.ChoiceField(required=False, choices=PowerLevel.choices)

        def validate(self, attrs):
            if len(attrs) < 2:
                raise ValidationError(
                    {"non_field_errors": ["Send at least one of enabled, plan_tier, category, power_level."]}
                )
            return attrs

    class ModelBulkUpdateOutputSerializer(serializers.Serializer):
        updated = serializers.IntegerField(help_text="How many models were changed.")

    @extend_schema(
        operation_id="staff_models_bulk_update",
        tags=["staff"],
        description="The admin's bulk actions on the named models: enable or disable them, set their plan tier, "
        "category or power level (these three are then pinned against the catalog sync).",
        request=ModelBulkUpdateInputSerializer,
        responses={200: ModelBulkUpdateOutputSerializer, **_errors()},
    )
    def post(self, request):
        serializer = self.ModelBulkUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        models = _models_or_400(changes.pop("models"))
        updated = models_staff_bulk_update(models=models, changes=changes, actor=self.actor, api_key=self.api_key)
        return Response({"updated": updated})


class StaffModelDetailApi(StaffAPIView):
    """One catalog model, and the plans that allow it."""

    staff_permission_model = "catalog.model"

    class ModelUpdateInputSerializer(StrictInputSerializer):
        display_name = serializers.CharField(required=False, max_length=255)
        description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
        enabled = serializers.BooleanField(required=False)
        context_window = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_INT)
        max_output_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_INT)
        input_price = serializers.DecimalField(
            required=False, allow_null=True, max_digits=24, decimal_places=15, min_value=Decimal(0)
        )
        output_price = serializers.DecimalField(
            required=False, allow_null=True, max_digits=24, decimal_places=15, min_value=Decimal(0)
        )
        cache_read_price = serializers.DecimalField(
            required=False, allow_null=True, max_digits=24, decimal_places=15, min_value=Decimal(0)
        )
        cache_write_price = serializers.DecimalField(
            required=False, allow_null=True, max_digits=24, decimal_places=15, min_value=Decimal(0)
        )
        price_unknown = serializers.BooleanField(required=False)
        supports_tools = serializers.BooleanField(required=False)
        supports_vision = serializers.BooleanField(required=False)
        supports_json = serializers.BooleanField(required=False)
        supports_streaming = serializers.BooleanField(required=False)
        supports_reasoning = serializers.BooleanField(required=False)
        category = serializers.ChoiceField(required=False, choices=Category.choices)
        power_level = serializers.ChoiceField(required=False, choices=PowerLevel.choices)
        quality_score = serializers.DecimalField(
            required=False, max_digits=5, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1)
        )
        plan_tier = serializers.ChoiceField(required=False, choices=PlanTier.choices)
        default_installed = serializers.BooleanField(required=False)
        popularity = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT)
        deprecated_at = serializers.DateTimeField(required=False, allow_null=True)
        hand_edited_fields = serializers.ListField(
            required=False,
            child=serializers.ChoiceField(choices=SYNCED_FIELDS),
            max_length=len(SYNCED_FIELDS),
            help_text="Replaces the pinned fields; fields changed in the same call are pinned anyway.",
        )

        def validate_hand_edited_fields(self, value):
            return sorted(set(value))

    @extend_schema(
        operation_id="staff_models_get", tags=["staff"], responses={200: ModelDetailOutputSerializer, **_errors(404)}
    )
    def get(self, request, model_id: str):
        return Response(_model_detail(_model_or_404(model_id)))

    @extend_schema(
        operation_id="staff_models_update",
        tags=["staff"],
        description="Change a model as the admin does; every synced field changed here is pinned against the sync. "
        "Prices are USD per token.",
        request=ModelUpdateInputSerializer,
        responses={200: ModelDetailOutputSerializer, **_errors(404)},
    )
    def patch(self, request, model_id: str):
        model = _model_or_404(model_id)
        serializer = self.ModelUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = model_staff_update(
            model=model, changes=dict(serializer.validated_data), actor=self.actor, api_key=self.api_key
        )
        return Response(_model_detail(model))


def _model_or_404(model_id: str) -> Model:
    model = staff_model_get(model_id=model_id)
    if model is None:
        raise NotFound(f"No model '{model_id}'.")
    return model


def _model_detail(model: Model) -> dict:
    model.plans = model_plan_slugs(model=model)
    return ModelDetailOutputSerializer(model).data


# Plans and plan gating ------------------------------------------------------------------------------------------


class StaffPlanListApi(StaffAPIView):
    """Every plan with its model access rule (plan gating)."""

    staff_permission_model = "workspaces.plan"

    @extend_schema(
        operation_id="staff_plans_list", tags=["staff"], responses={200: PlanOutputSerializer(many=True), **_errors()}
    )
    def get(self, request):
        return Response(PlanOutputSerializer(staff_plan_list(), many=True).data)


class StaffPlanDetailApi(StaffAPIView):
    """One plan's model access rule: which models its workspaces may install and call."""

    staff_permission_model = "workspaces.plan"

    class PlanGatingInputSerializer(StrictInputSerializer):
        model_access = serializers.ChoiceField(required=False, choices=ModelAccess.choices)
        allowed_tiers = serializers.ListField(
            required=False,
            child=serializers.ChoiceField(choices=PlanTier.choices),
            max_length=len(PlanTier.values),
            help_text="The model plan tiers unlocked when model_access is 'tiers'.",
        )

        def validate_allowed_tiers(self, value):
            return [tier for tier in PlanTier.values if tier in value]

    @extend_schema(
        operation_id="staff_plans_get", tags=["staff"], responses={200: PlanOutputSerializer, **_errors(404)}
    )
    def get(self, request, slug: str):
        return Response(PlanOutputSerializer(_plan_or_404(slug)).data)

    @extend_schema(
        operation_id="staff_plans_update_gating",
        tags=["staff"],
        description="Change which models the plan unlocks by rule. Workspaces on the plan see the change at once.",
        request=PlanGatingInputSerializer,
        responses={200: PlanOutputSerializer, **_errors(404)},
    )
    def patch(self, request, slug: str):
        plan = _plan_or_404(slug)
        serializer = self.PlanGatingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan_gating_update(plan=plan, changes=dict(serializer.validated_data), actor=self.actor, api_key=self.api_key)
        return Response(PlanOutputSerializer(_plan_or_404(slug)).data)


class StaffPlanModelListApi(StaffAPIView):
    """The models a plan lists as always allowed."""

    staff_permission_model = "workspaces.plan"
    pagination_class = PagePagination

    class PlanModelsAddInputSerializer(StrictInputSerializer):
        models = ModelIdsField()

    class PlanModelsAddOutputSerializer(serializers.Serializer):
        added = serializers.ListField(child=serializers.CharField(), help_text="Ids newly listed on the plan.")
        allowed_model_count = serializers.IntegerField()

    @extend_schema(
        operation_id="staff_plan_models_list",
        tags=["staff"],
        description="The models the plan always allows, whatever its access rule.",
        responses={200: ModelOutputSerializer(many=True), **_errors(404)},
    )
    def get(self, request, slug: str):
        return self.paginated(plan_listed_model_list(plan=_plan_or_404(slug)), ModelOutputSerializer)

    @extend_schema(
        operation_id="staff_plan_models_add",
        tags=["staff"],
        description="List models on the plan as always allowed (the admin's “Install for a plan…”).",
        request=PlanModelsAddInputSerializer,
        responses={200: PlanModelsAddOutputSerializer, **_errors(404)},
    )
    def post(self, request, slug: str):
        plan = _plan_or_404(slug)
        serializer = self.PlanModelsAddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        models = _models_or_400(serializer.validated_data["models"])
        added = plan_models_add(plan=plan, models=models, actor=self.actor, api_key=self.api_key)
        return Response({"added": added, "allowed_model_count": _plan_or_404(slug).allowed_model_count})


class StaffPlanModelRemoveApi(StaffAPIView):
    """One model listed on a plan."""

    staff_permission_model = "workspaces.plan"

    @extend_schema(
        operation_id="staff_plan_models_remove",
        tags=["staff"],
        description="Take a model off the plan's list; it stays allowed where the plan's access rule allows it.",
        responses={204: None, **_errors(404)},
    )
    def delete(self, request, slug: str, model_id: str):
        plan = _plan_or_404(slug)
        plan_model_remove(plan=plan, model=_model_or_404(model_id), actor=self.actor, api_key=self.api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _plan_or_404(slug: str):
    plan = staff_plan_get(slug=slug)
    if plan is None:
        raise NotFound(f"No plan '{slug}'.")
    return plan
