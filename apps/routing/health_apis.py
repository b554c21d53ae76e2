"""/api/health: how the models installed in the caller's workspace are doing, as of the last health rollup (every
minute): rolling-window figures and circuit state. The gateway itself reads the live circuits (apps/routing/health.py).
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from apps.analytics.models import CircuitState
from apps.analytics.selectors import model_health_list
from apps.core.api import ErrorSerializer, PagePagination, WorkspaceAPIView


class ModelHealthOutputSerializer(serializers.Serializer):
    model = serializers.CharField(source="model.model_id", help_text="The canonical model id.")
    provider = serializers.CharField(source="model.provider.slug")
    circuit_state = serializers.ChoiceField(
        choices=CircuitState.choices,
        help_text="`open`: the gateway skips the model; `half_open`: one probe request may go; `closed`: in service.",
    )
    circuit_opened_at = serializers.DateTimeField(allow_null=True)
    window_seconds = serializers.IntegerField(help_text="The rolling window the figures cover.")
    requests = serializers.IntegerField()
    successes = serializers.IntegerField()
    errors_by_kind = serializers.DictField(child=serializers.IntegerField(), help_text='e.g. `{"rate_limit": 3}`.')
    error_rate = serializers.FloatField(help_text="Provider failures over requests (the caller's own errors excluded).")
    latency_p50_ms = serializers.IntegerField(allow_null=True)
    latency_p95_ms = serializers.IntegerField(allow_null=True)
    ttft_p50_ms = serializers.IntegerField(allow_null=True, help_text="Time to first token, streamed calls.")
    updated_at = serializers.DateTimeField()


class ModelHealthPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ModelHealthOutputSerializer(many=True)


class ModelHealthListApi(WorkspaceAPIView):
    class ModelHealthFilterSerializer(serializers.Serializer):
        model = serializers.CharField(required=False, max_length=255, help_text="A canonical id: `openai/gpt-4o-mini`.")
        state = serializers.ChoiceField(required=False, choices=CircuitState.choices, help_text="A circuit state.")

    @extend_schema(
        operation_id="health_models_list",
        tags=["health"],
        description=(
            "Health of the models installed in your workspace over the last few minutes, refreshed every minute: "
            "requests, errors by kind, latency, and whether the gateway is skipping the model (its circuit is open)."
        ),
        parameters=[
            ModelHealthFilterSerializer,
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description=f"At most {PagePagination.max_page_size}."),
        ],
        responses={
            200: ModelHealthPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Bad filter; `extra.fields` names it."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
            404: OpenApiResponse(ErrorSerializer, description="No such page."),
        },
    )
    def get(self, request):
        filters = self.ModelHealthFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        health = model_health_list(
            workspace=self.workspace,
            model_id=filters.validated_data.get("model"),
            circuit_state=filters.validated_data.get("state"),
        )
        paginator = PagePagination()
        page = paginator.paginate_queryset(health, request, view=self)
        return paginator.get_paginated_response(ModelHealthOutputSerializer(page, many=True).data)
