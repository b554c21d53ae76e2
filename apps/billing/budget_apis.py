"""/api/budgets: the workspace's USD budgets (workspace, agent or API key; daily or monthly), each with its current
window's spend and the alerts already sent in that window."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from apps.billing.models import BudgetAction, BudgetPeriod, BudgetScope
from apps.billing.selectors import (
    BudgetWithSpend,
    budget_agent_find,
    budget_get,
    budget_get_with_spend,
    budget_list_with_spend,
)
from apps.billing.services import budget_create, budget_delete, budget_update
from apps.core.api import ErrorSerializer, WorkspaceAPIView
from apps.keys.selectors import api_key_get

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed in this workspace."),
    404: OpenApiResponse(ErrorSerializer, description="No such budget in this workspace."),
}
USD = {"max_digits": None, "decimal_places": 8, "coerce_to_string": True}


def _errors(*statuses: int) -> dict:
    return {code: ERRORS[code] for code in (400, 401, 403, *statuses)}


class WindowDateTimeField(serializers.DateTimeField):
    """A window bound in its own zone (the workspace's timezone), where the API's other times are in UTC."""

    def enforce_timezone(self, value):
        return value


class BudgetAgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()


class BudgetApiKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mask = serializers.CharField()


class BudgetAlertSentSerializer(serializers.Serializer):
    threshold = serializers.IntegerField()
    spent_usd = serializers.DecimalField(**USD)
    sent_at = serializers.DateTimeField()


class BudgetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="budget.pk")
    scope = serializers.CharField(source="budget.scope")
    agent = BudgetAgentSerializer(source="budget.agent", allow_null=True)
    api_key = BudgetApiKeySerializer(source="budget.api_key", allow_null=True)
    period = serializers.CharField(source="budget.period")
    limit_usd = serializers.DecimalField(source="budget.limit_usd", **USD)
    action = serializers.CharField(source="budget.action")
    alert_thresholds = serializers.ListField(child=serializers.IntegerField(), source="budget.alert_thresholds")
    is_active = serializers.BooleanField(source="budget.is_active")
    spent_usd = serializers.DecimalField(source="spend.spent_usd", **USD, help_text="Spent in the current window.")
    remaining_usd = serializers.DecimalField(source="spend.remaining_usd", **USD)
    used_percent = serializers.DecimalField(
        source="spend.used_percent", max_digits=None, decimal_places=2, coerce_to_string=True
    )
    window_start = WindowDateTimeField(source="spend.window_start", help_text="In the workspace's timezone.")
    window_end = WindowDateTimeField(source="spend.window_end", help_text="Exclusive; the next window's start.")
    alerts_sent = BudgetAlertSentSerializer(source="spend.alerts_sent", many=True, help_text="In the current window.")
    created_at = serializers.DateTimeField(source="budget.created_at")
    updated_at = serializers.DateTimeField(source="budget.updated_at")


class BudgetInputSerializer(serializers.Serializer):
    """Creating takes every field (limit_usd required, the rest defaulted); PATCH takes any of them."""

    scope = serializers.ChoiceField(choices=BudgetScope.choices, default=BudgetScope.WORKSPACE)
    agent = serializers.CharField(
        required=False, allow_null=True, max_length=64, help_text="With scope `agent`: the agent's id or slug."
    )
    api_key = serializers.IntegerField(required=False, allow_null=True, help_text="With scope `api_key`: its id.")
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    limit_usd = serializers.DecimalField(
        max_digits=18, decimal_places=8, min_value=Decimal("0"), help_text="USD per window, as a string or number."
    )
    action = serializers.ChoiceField(choices=BudgetAction.choices, default=BudgetAction.BLOCK)
    alert_thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=100),
        required=False,
        max_length=100,
        help_text="Percentages of the limit that send an alert, once per window; default [50, 80, 100].",
    )
    is_active = serializers.BooleanField(default=True)


def _resolve_targets(workspace, data: dict) -> dict:
    """The agent and API key references of the input as objects of the caller's workspace (400 if not one)."""
    data = dict(data)
    if data.get("agent") is not None:
        agent = budget_agent_find(workspace=workspace, ref=data["agent"])
        if agent is None:
            raise ValidationError({"agent": [f"No agent '{data['agent']}' in this workspace."]})
        data["agent"] = agent
    if data.get("api_key") is not None:
        api_key = api_key_get(workspace=workspace, api_key_id=data["api_key"])
        if api_key is None:
            raise ValidationError({"api_key": [f"No API key with id {data['api_key']} in this workspace."]})
        data["api_key"] = api_key
    return data


def _budget_with_spend_or_404(workspace, budget_id: int) -> BudgetWithSpend:
    found = budget_get_with_spend(workspace=workspace, budget_id=budget_id)
    if found is None:
        raise NotFound("No such budget in this workspace.")
    return found


class BudgetListCreateApi(WorkspaceAPIView):
    """The workspace's budgets, each with its current window's spend and the alerts sent in that window."""

    @extend_schema(
        operation_id="budgets_list",
        tags=["budgets"],
        responses={200: BudgetOutputSerializer(many=True), **_errors()},
    )
    def get(self, request):
        return Response(BudgetOutputSerializer(budget_list_with_spend(workspace=self.workspace), many=True).data)

    @extend_schema(
        operation_id="budgets_create",
        tags=["budgets"],
        request=BudgetInputSerializer,
        responses={201: BudgetOutputSerializer, **_errors()},
    )
    def post(self, request):
        serializer = BudgetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _resolve_targets(self.workspace, serializer.validated_data)
        budget = budget_create(workspace=self.workspace, created_by=self.actor, **data)
        created = _budget_with_spend_or_404(self.workspace, budget.pk)
        return Response(BudgetOutputSerializer(created).data, status=status.HTTP_201_CREATED)


class BudgetDetailApi(WorkspaceAPIView):
    """One budget of the workspace; another workspace's budget is 404."""

    @extend_schema(
        operation_id="budgets_retrieve", tags=["budgets"], responses={200: BudgetOutputSerializer, **_errors(404)}
    )
    def get(self, request, budget_id: int):
        return Response(BudgetOutputSerializer(_budget_with_spend_or_404(self.workspace, budget_id)).data)

    @extend_schema(
        operation_id="budgets_update",
        tags=["budgets"],
        request=BudgetInputSerializer(partial=True),
        description="Changes the fields given. A new scope drops the old target; name the new agent or API key.",
        responses={200: BudgetOutputSerializer, **_errors(404)},
    )
    def patch(self, request, budget_id: int):
        budget = budget_get(workspace=self.workspace, budget_id=budget_id)
        if budget is None:
            raise NotFound("No such budget in this workspace.")
        serializer = BudgetInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        budget_update(
            budget=budget, data=_resolve_targets(self.workspace, serializer.validated_data), updated_by=self.actor
        )
        return Response(BudgetOutputSerializer(_budget_with_spend_or_404(self.workspace, budget_id)).data)

    @extend_schema(operation_id="budgets_delete", tags=["budgets"], responses={204: None, **_errors(404)})
    def delete(self, request, budget_id: int):
        budget = budget_get(workspace=self.workspace, budget_id=budget_id)
        if budget is None:
            raise NotFound("No such budget in this workspace.")
        budget_delete(budget=budget, deleted_by=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
