"""/api/agents: the workspace's agents and their model configuration (primary model, ordered fallbacks, routing
policy, power level, weights, task rules, privacy mode, temperature, max tokens, budgets)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.billing.models import BudgetAction, BudgetPeriod
from apps.catalog.models import PowerLevel, TaskType
from apps.core.api import WorkspaceAPIView
from apps.core.api_io import (
    PageQuerySerializer,
    StrictSerializer,
    api_errors,
    page_serializer,
    paginated,
    query_params,
)
from apps.workspaces.agent_services import (
    AGENT_DESCRIPTION_MAX_LENGTH,
    MAX_FALLBACKS,
    MAX_TOKENS_LIMIT,
    agent_create,
    agent_delete,
    agent_update,
)
from apps.workspaces.apis import PowerLevelField, RoutingWeightsSerializer
from apps.workspaces.models import Agent, PrivacyMode, RoutingPolicy, ServiceCategory
from apps.workspaces.routing_config import routing_weights_stored
from apps.workspaces.selectors import agent_get_with_config, agent_list

MODEL_REF = {"max_length": 255, "help_text": "A canonical model id or an alias, installed in the workspace."}
USD = {"max_digits": 18, "decimal_places": 8}

TaskRulesSerializer = type(
    "TaskRulesSerializer",
    (StrictSerializer,),
    {
        "__doc__": "Task → the model that serves it when the prompt is of that task (a canonical id or an alias).",
        **{task: serializers.CharField(required=False, **MODEL_REF) for task in TaskType.values},
    },
)


class AgentBudgetInputSerializer(StrictSerializer):
    limit_usd = serializers.DecimalField(**USD, min_value=Decimal(0), help_text="USD per period, string or number.")
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    action = serializers.ChoiceField(
        choices=BudgetAction.choices, default=BudgetAction.BLOCK, help_text="At the limit: refuse, downgrade, alert."
    )
    alert_thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=100),
        required=False,
        max_length=100,
        help_text="Percentages of the limit that send an alert; default [50, 80, 100].",
    )
    is_active = serializers.BooleanField(default=True)


class AgentBudgetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Also at /api/budgets/{id}, with its spend.")
    period = serializers.ChoiceField(choices=BudgetPeriod.choices)
    limit_usd = serializers.DecimalField(**USD, coerce_to_string=True)
    action = serializers.ChoiceField(choices=BudgetAction.choices)
    alert_thresholds = serializers.ListField(child=serializers.IntegerField())
    is_active = serializers.BooleanField()


class AgentInputSerializer(StrictSerializer):
    """Creating takes `name` and any of the rest (defaults as shown); PATCH takes any of them."""

    name = serializers.CharField(max_length=Agent._meta.get_field("name").max_length)
    slug = serializers.SlugField(
        required=False, max_length=Agent._meta.get_field("slug").max_length, help_text="Default: from the name."
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=AGENT_DESCRIPTION_MAX_LENGTH)
    kind = serializers.ChoiceField(required=False, choices=ServiceCategory.choices, help_text="Default `chat`.")
    is_active = serializers.BooleanField(required=False, help_text="Default true; an inactive agent is not routed.")
    primary_model = serializers.CharField(required=False, allow_null=True, **MODEL_REF)
    fallback_models = serializers.ListField(
        child=serializers.CharField(**MODEL_REF),
        required=False,
        max_length=MAX_FALLBACKS,
        help_text="Tried in order when the primary fails; each installed, once, and not the primary.",
    )
    routing_policy = serializers.ChoiceField(
        required=False,
        choices=RoutingPolicy.choices,
        help_text="Default `explicit` (needs a primary model); `auto`: the router picks by power level and weights.",
    )
    power_level = PowerLevelField(required=False, help_text="Default BALANCED.")
    routing_weights = RoutingWeightsSerializer(required=False, help_text="Default cost 0.4, latency 0.4, quality 0.2.")
    task_rules = TaskRulesSerializer(required=False)
    privacy_mode = serializers.ChoiceField(required=False, choices=PrivacyMode.choices, help_text="Default `detect`.")
    temperature = serializers.DecimalField(
        required=False, allow_null=True, max_digits=3, decimal_places=2, min_value=Decimal(0), max_value=Decimal(2)
    )
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_TOKENS_LIMIT)
    budgets = AgentBudgetInputSerializer(
        many=True,
        required=False,
        max_length=len(BudgetPeriod.values),
        help_text="The agent's budgets, one per period; given, they replace the agent's budgets.",
    )


class AgentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField(help_text="Its service category.")
    is_active = serializers.BooleanField()
    primary_model = serializers.CharField(source="primary_model.model_id", allow_null=True)
    fallback_models = serializers.SerializerMethodField()
    routing_policy = serializers.ChoiceField(choices=RoutingPolicy.choices)
    power_level = serializers.ChoiceField(choices=PowerLevel.choices)
    routing_weights = serializers.SerializerMethodField()
    task_rules = serializers.DictField(child=serializers.CharField(), help_text="Task → canonical model id.")
    privacy_mode = serializers.ChoiceField(choices=PrivacyMode.choices)
    temperature = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False, allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    budgets = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_fallback_models(self, agent: Agent) -> list[str]:
        return [fallback.model.model_id for fallback in agent.fallbacks.all()]

    @extend_schema_field(RoutingWeightsSerializer)
    def get_routing_weights(self, agent: Agent) -> dict:
        return routing_weights_stored(agent.routing_weights)

    @extend_schema_field(AgentBudgetOutputSerializer(many=True))
    def get_budgets(self, agent: Agent) -> list[dict]:
        budgets = sorted(agent.budgets.all(), key=lambda budget: (budget.period, budget.pk))
        return AgentBudgetOutputSerializer(budgets, many=True).data


AgentPageSerializer = page_serializer("AgentPageSerializer", AgentOutputSerializer)


def _agent_or_404(workspace, agent_id: int) -> Agent:
    agent = agent_get_with_config(workspace=workspace, agent_id=agent_id)
    if agent is None:
        raise NotFound("No such agent in this workspace.")
    return agent


class AgentListCreateApi(WorkspaceAPIView):
    class AgentQuerySerializer(PageQuerySerializer):
        is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
        kind = serializers.ChoiceField(required=False, choices=ServiceCategory.choices)
        search = serializers.CharField(required=False, max_length=128, help_text="Part of the name or slug.")

    @extend_schema(
        operation_id="agents_list",
        tags=["agents"],
        parameters=[AgentQuerySerializer],
        responses={200: AgentPageSerializer, **api_errors(404)},
    )
    def get(self, request):
        wanted = query_params(self.AgentQuerySerializer, request)
        agents = agent_list(
            workspace=self.workspace,
            is_active=wanted.get("is_active"),
            kind=wanted.get("kind"),
            search=wanted.get("search"),
        )
        return paginated(self, agents, AgentOutputSerializer)

    @extend_schema(
        operation_id="agents_create",
        tags=["agents"],
        description=(
            "Models must be installed in the workspace and allowed by its plan; every problem is reported at once, "
            "by field, and nothing is saved then."
        ),
        request=AgentInputSerializer,
        responses={201: AgentOutputSerializer, **api_errors(409)},
    )
    def post(self, request):
        serializer = AgentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = agent_create(workspace=self.workspace, created_by=self.actor, **serializer.validated_data)
        return Response(
            AgentOutputSerializer(_agent_or_404(self.workspace, agent.pk)).data, status=status.HTTP_201_CREATED
        )


class AgentDetailApi(WorkspaceAPIView):
    """One agent of the workspace; another workspace's agent is 404."""

    @extend_schema(
        operation_id="agents_retrieve", tags=["agents"], responses={200: AgentOutputSerializer, **api_errors(404)}
    )
    def get(self, request, agent_id: int):
        return Response(AgentOutputSerializer(_agent_or_404(self.workspace, agent_id)).data)

    @extend_schema(
        operation_id="agents_update",
        tags=["agents"],
        description=(
            "Changes the fields given. Rules between fields (a primary model for `explicit`, fallbacks other than "
            "the primary, max_tokens within the primary's output) are checked when one of their fields changes."
        ),
        request=AgentInputSerializer(partial=True),
        responses={200: AgentOutputSerializer, **api_errors(404, 409)},
    )
    def patch(self, request, agent_id: int):
        agent = _agent_or_404(self.workspace, agent_id)
        serializer = AgentInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        agent_update(agent=agent, data=serializer.validated_data, updated_by=self.actor)
        return Response(AgentOutputSerializer(_agent_or_404(self.workspace, agent_id)).data)

    @extend_schema(
        operation_id="agents_delete",
        tags=["agents"],
        description=(
            "Deletes the agent with its budgets and its own provider keys. Refused with 409 `agent_has_api_keys` "
            "while unrevoked API keys act as the agent."
        ),
        responses={204: None, **api_errors(404, 409)},
    )
    def delete(self, request, agent_id: int):
        agent_delete(agent=_agent_or_404(self.workspace, agent_id), deleted_by=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
