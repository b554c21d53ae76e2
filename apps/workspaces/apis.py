"""/api/workspace: the models installed in the caller's workspace (list, install, uninstall) and its settings
(preferred power level, routing weights, default model per service category, timezone, alert contacts).

Strict input (an unknown field or query parameter is an error, never silently ignored): apps/core/api_io.py.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from apps.catalog.models import Category, ModelMode, PlanTier, PowerLevel
from apps.catalog.selectors import model_route_get
from apps.core.api import WorkspaceAPIView
from apps.core.api_io import (
    DecimalStringField,
    PageQuerySerializer,
    StrictSerializer,
    api_errors,
    page_serializer,
    paginated,
    query_params,
)
from apps.workspaces.models import InstalledModel, ServiceCategory
from apps.workspaces.routing_config import routing_weights_stored
from apps.workspaces.selectors import (
    installed_model_catalog_get,
    installed_model_catalog_list,
    workspace_default_models,
)
from apps.workspaces.services import (
    MAX_ALERT_EMAILS,
    WEBHOOK_URL_MAX_LENGTH,
    model_install,
    model_uninstall,
    model_uninstall_check,
    workspace_settings_update,
)

PER_MILLION = Decimal(1_000_000)


class PowerLevelField(serializers.ChoiceField):
    """ECO, BALANCED or PRECISION; any case is accepted."""

    def __init__(self, **kwargs):
        super().__init__(choices=PowerLevel.choices, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class RoutingWeightsSerializer(StrictSerializer):
    """How the router weighs a model's cost, latency and quality; relative (a missing weight is 0)."""

    cost = serializers.FloatField(required=False, min_value=0)
    latency = serializers.FloatField(required=False, min_value=0)
    quality = serializers.FloatField(required=False, min_value=0)


class InstalledModelProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class ModelPricesSerializer(serializers.Serializer):
    """USD, per token and per 1M tokens (decimal strings); null where the catalog has no price."""

    price_unknown = serializers.SerializerMethodField(help_text="No known price: the model is never costed as $0.")
    input_per_million = DecimalStringField(source="input_price", scale=PER_MILLION)
    output_per_million = DecimalStringField(source="output_price", scale=PER_MILLION)
    cache_read_per_million = DecimalStringField(source="cache_read_price", scale=PER_MILLION)
    cache_write_per_million = DecimalStringField(source="cache_write_price", scale=PER_MILLION)
    input_per_token = DecimalStringField(source="input_price")
    output_per_token = DecimalStringField(source="output_price")
    cache_read_per_token = DecimalStringField(source="cache_read_price")
    cache_write_per_token = DecimalStringField(source="cache_write_price")

    def get_price_unknown(self, model) -> bool:
        return model.price_unknown or model.input_price is None or model.output_price is None


class InstalledModelCapabilitiesSerializer(serializers.Serializer):
    tools = serializers.BooleanField(source="supports_tools")
    vision = serializers.BooleanField(source="supports_vision")
    json = serializers.BooleanField(source="supports_json")
    streaming = serializers.BooleanField(source="supports_streaming")
    reasoning = serializers.BooleanField(source="supports_reasoning")


INSTALLED_STATUSES = {
    "available": "The workspace can call it.",
    "model_disabled": "Staff disabled the model.",
    "provider_disabled": "Staff disabled its provider.",
    "not_in_plan": "The workspace's plan no longer includes it.",
}


class InstalledModelOutputSerializer(serializers.Serializer):
    model = serializers.CharField(source="model.model_id", help_text="The canonical id, e.g. `openai/gpt-4o-mini`.")
    display_name = serializers.CharField(source="model.display_name")
    provider = InstalledModelProviderSerializer(source="model.provider")
    mode = serializers.ChoiceField(source="model.mode", choices=ModelMode.choices)
    context_window = serializers.IntegerField(source="model.context_window", allow_null=True)
    max_output_tokens = serializers.IntegerField(source="model.max_output_tokens", allow_null=True)
    prices = ModelPricesSerializer(source="model")
    capabilities = InstalledModelCapabilitiesSerializer(source="model")
    category = serializers.ChoiceField(source="model.category", choices=Category.choices)
    power_level = serializers.ChoiceField(source="model.power_level", choices=PowerLevel.choices)
    plan_tier = serializers.ChoiceField(source="model.plan_tier", choices=PlanTier.choices)
    deprecated_at = serializers.DateTimeField(source="model.deprecated_at", allow_null=True)
    status = serializers.SerializerMethodField(
        help_text="; ".join(f"`{name}`: {meaning}" for name, meaning in INSTALLED_STATUSES.items())
    )
    installed_at = serializers.DateTimeField(source="created_at")
    installed_by = serializers.CharField(source="installed_by.username", allow_null=True, help_text="A username.")

    @extend_schema_field(serializers.ChoiceField(choices=list(INSTALLED_STATUSES)))
    def get_status(self, installed: InstalledModel) -> str:
        model = installed.model
        if not model.enabled:
            return "model_disabled"
        if not model.provider.enabled:
            return "provider_disabled"
        return "available" if installed.plan_allows else "not_in_plan"


InstalledModelPageSerializer = page_serializer("InstalledModelPageSerializer", InstalledModelOutputSerializer)


class WorkspaceModelListInstallApi(WorkspaceAPIView):
    class InstalledModelQuerySerializer(PageQuerySerializer):
        search = serializers.CharField(required=False, max_length=255, help_text="Part of the model's id or name.")
        provider = serializers.SlugField(required=False, max_length=64, help_text="A provider's slug.")
        available = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Only models the workspace can (or cannot) call."
        )

    class ModelInstallInputSerializer(StrictSerializer):
        model = serializers.CharField(max_length=255, help_text="A canonical model id or an alias.")

    @extend_schema(
        operation_id="workspace_models_list",
        tags=["workspace"],
        description="The models installed in the workspace, by id, with their prices and whether it can call them.",
        parameters=[InstalledModelQuerySerializer],
        responses={200: InstalledModelPageSerializer, **api_errors(404)},
    )
    def get(self, request):
        wanted = query_params(self.InstalledModelQuerySerializer, request)
        installed = installed_model_catalog_list(
            workspace=self.workspace,
            search=wanted.get("search"),
            provider=wanted.get("provider"),
            available=wanted.get("available"),
        )
        return paginated(self, installed, InstalledModelOutputSerializer)

    @extend_schema(
        operation_id="workspace_models_install",
        tags=["workspace"],
        description=(
            "Install a catalog model (201; 200 when it was installed already). A model the plan does not include is "
            "refused with 403 `plan_forbids_model`, naming the plan that includes it in `extra.upgrade_plan`."
        ),
        request=ModelInstallInputSerializer,
        responses={201: InstalledModelOutputSerializer, 200: InstalledModelOutputSerializer, **api_errors()},
    )
    def post(self, request):
        serializer = self.ModelInstallInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ref = serializer.validated_data["model"]
        model = model_route_get(name=ref)
        if model is None:
            raise ValidationError({"model": [f"'{ref}' is not a model of the catalog."]})
        already = installed_model_catalog_get(workspace=self.workspace, model_id=model.model_id)
        if already is None:
            model_install(workspace=self.workspace, model=model, installed_by=self.actor)
        installed = installed_model_catalog_get(workspace=self.workspace, model_id=model.model_id)
        return Response(
            InstalledModelOutputSerializer(installed).data,
            status=status.HTTP_200_OK if already else status.HTTP_201_CREATED,
        )


class WorkspaceModelUninstallApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="workspace_models_uninstall",
        tags=["workspace"],
        description=(
            "Uninstall a model by its canonical id (slashes included: `/api/workspace/models/openai/gpt-4o-mini`). "
            "Refused with 409 `model_in_use` while an agent or a default model of the workspace names it."
        ),
        responses={204: None, **api_errors(404, 409)},
    )
    def delete(self, request, model_id: str):
        # A NUL cannot be in a model id, and PostgreSQL refuses it in a query.
        installed = "\x00" not in model_id and installed_model_catalog_get(workspace=self.workspace, model_id=model_id)
        if not installed:
            raise NotFound(f"No model '{model_id}' is installed in this workspace.")
        model_uninstall_check(workspace=self.workspace, model=installed.model)
        model_uninstall(workspace=self.workspace, model=installed.model, uninstalled_by=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


DefaultModelsSerializer = type(
    "DefaultModelsSerializer",
    (StrictSerializer,),
    {
        "__doc__": "Service category → the id of its default model (installed, allowed by the plan); null: none.",
        **{
            category: serializers.CharField(
                required=False, allow_null=True, allow_blank=True, max_length=255, help_text=label
            )
            for category, label in ServiceCategory.choices
        },
    },
)


class SlugNameSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class WorkspaceSettingsOutputSerializer(serializers.Serializer):
    workspace = SlugNameSerializer(source="*")
    plan = SlugNameSerializer()
    preferred_power_level = serializers.ChoiceField(choices=PowerLevel.choices)
    routing_weights = serializers.SerializerMethodField()
    default_models = serializers.SerializerMethodField()
    timezone = serializers.CharField(help_text="IANA name; budgets' days and months follow it.")
    alert_emails = serializers.ListField(child=serializers.EmailField())
    alert_webhook_url = serializers.CharField(help_text="Budget alerts are POSTed here; '' for none.")

    @extend_schema_field(RoutingWeightsSerializer)
    def get_routing_weights(self, workspace) -> dict:
        return routing_weights_stored(workspace.routing_weights)

    @extend_schema_field(DefaultModelsSerializer)
    def get_default_models(self, workspace) -> dict:
        defaults = workspace_default_models(workspace=workspace)
        return {category: defaults.get(category) for category in ServiceCategory.values}


class WorkspaceSettingsInputSerializer(StrictSerializer):
    preferred_power_level = PowerLevelField(help_text="The power level `auto` starts from without an agent.")
    routing_weights = RoutingWeightsSerializer()
    default_models = DefaultModelsSerializer(help_text="PUT replaces them all; PATCH changes the categories given.")
    timezone = serializers.CharField(max_length=64, help_text="An IANA name, e.g. `Europe/Paris`.")
    alert_emails = serializers.ListField(child=serializers.EmailField(), max_length=MAX_ALERT_EMAILS)
    alert_webhook_url = serializers.URLField(allow_blank=True, max_length=WEBHOOK_URL_MAX_LENGTH)


class WorkspaceSettingsApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="workspace_settings_retrieve",
        tags=["workspace"],
        responses={200: WorkspaceSettingsOutputSerializer, **api_errors()},
    )
    def get(self, request):
        return Response(WorkspaceSettingsOutputSerializer(self.workspace).data)

    @extend_schema(
        operation_id="workspace_settings_replace",
        tags=["workspace"],
        description="Set every setting; a service category left out of `default_models` has none.",
        request=WorkspaceSettingsInputSerializer,
        responses={200: WorkspaceSettingsOutputSerializer, **api_errors()},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        operation_id="workspace_settings_update",
        tags=["workspace"],
        description="Change the settings given; `default_models` changes only the categories it names.",
        request=WorkspaceSettingsInputSerializer(partial=True),
        responses={200: WorkspaceSettingsOutputSerializer, **api_errors()},
    )
    def patch(self, request):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        serializer = WorkspaceSettingsInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            given = data["default_models"]
            data["default_models"] = {category: given.get(category) for category in ServiceCategory.values}
        workspace_settings_update(workspace=self.workspace, data=data, updated_by=self.actor)
        return Response(WorkspaceSettingsOutputSerializer(self.workspace).data)
