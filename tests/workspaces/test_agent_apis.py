"""/api/agents through DRF's test client: create, list, read, change and delete agents and their model
configuration, validated against the workspace's installed models and plan, scoped to the caller's workspace."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.billing.models import Budget
from apps.catalog.models import PlanTier
from apps.core.secrets import secret_hash
from apps.routing.gateway.context import load_caller
from apps.workspaces.models import Agent, AgentFallback, ModelAccess, Plan
from tests.catalog.factories import ModelAliasFactory, ModelFactory, ProviderFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import (
    AgentFactory,
    AgentFallbackFactory,
    InstalledModelFactory,
    PlanFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

AGENTS = "/api/agents"


@pytest.fixture
def workspace():
    """On a plan with the starter and pro tiers."""
    Plan.objects.all().delete()
    pro = PlanFactory(slug="pro", name="Pro", model_access=ModelAccess.TIERS, allowed_tiers=["starter", "pro"])
    return WorkspaceFactory(slug="acme", plan=pro)


@pytest.fixture
def models(workspace):
    """Installed: mini (starter), big (pro), sonnet (pro, anthropic), frontier (enterprise: installed on a former
    plan, no longer allowed). In the catalog only: spare (pro) and off (disabled)."""
    openai, anthropic = ProviderFactory(slug="openai"), ProviderFactory(slug="anthropic")
    found = SimpleNamespace(
        mini=ModelFactory(provider=openai, upstream_name="gpt-4o-mini", plan_tier=PlanTier.STARTER),
        big=ModelFactory(provider=openai, upstream_name="gpt-4o", plan_tier=PlanTier.PRO, max_output_tokens=4096),
        sonnet=ModelFactory(provider=anthropic, upstream_name="claude-sonnet", plan_tier=PlanTier.PRO),
        frontier=ModelFactory(provider=openai, upstream_name="o3-pro", plan_tier=PlanTier.ENTERPRISE),
        spare=ModelFactory(provider=openai, upstream_name="gpt-4.1", plan_tier=PlanTier.PRO),
        off=ModelFactory(provider=openai, upstream_name="old", plan_tier=PlanTier.PRO, enabled=False),
    )
    for model in (found.mini, found.big, found.sonnet, found.frontier, found.off):
        InstalledModelFactory(workspace=workspace, model=model)
    return found


FULL = {
    "name": "Support bot",
    "slug": "support-bot",
    "description": "Answers tickets.",
    "kind": "chat",
    "primary_model": "openai/gpt-4o",
    "fallback_models": ["anthropic/claude-sonnet", "openai/gpt-4o-mini"],
    "routing_policy": "explicit",
    "power_level": "precision",
    "routing_weights": {"cost": 0.2, "latency": 0.3, "quality": 0.5},
    "task_rules": {"code": "anthropic/claude-sonnet"},
    "privacy_mode": "always",
    "temperature": "0.7",
    "max_tokens": 2048,
    "budgets": [{"limit_usd": "25", "period": "daily"}, {"limit_usd": "300.50", "action": "downgrade"}],
}


class TestCreate:
    def test_the_whole_configuration(self, client, workspace, member, models):
        response = client.post(AGENTS, FULL, format="json")

        assert response.status_code == 201, response.json()
        body = response.json()
        agent = Agent.objects.get()
        daily, monthly = Budget.objects.order_by("period")
        assert body == {
            "id": agent.pk,
            "slug": "support-bot",
            "name": "Support bot",
            "description": "Answers tickets.",
            "kind": "chat",
            "is_active": True,
            "primary_model": "openai/gpt-4o",
            "fallback_models": ["anthropic/claude-sonnet", "openai/gpt-4o-mini"],
            "routing_policy": "explicit",
            "power_level": "PRECISION",
            "routing_weights": {"cost": 0.2, "latency": 0.3, "quality": 0.5},
            "task_rules": {"code": "anthropic/claude-sonnet"},
            "privacy_mode": "always",
            "temperature": 0.7,
            "max_tokens": 2048,
            "budgets": [
                {
                    "id": daily.pk,
                    "period": "daily",
                    "limit_usd": "25.00000000",
                    "action": "block",
                    "alert_thresholds": [50, 80, 100],
                    "is_active": True,
                },
                {
                    "id": monthly.pk,
                    "period": "monthly",
                    "limit_usd": "300.50000000",
                    "action": "downgrade",
                    "alert_thresholds": [50, 80, 100],
                    "is_active": True,
                },
            ],
            "created_at": body["created_at"],
            "updated_at": body["updated_at"],
        }
        assert (agent.workspace, agent.created_by, agent.temperature) == (workspace, member, Decimal("0.70"))
        assert list(agent.fallbacks.values_list("position", "model__model_id")) == [
            (1, "anthropic/claude-sonnet"),
            (2, "openai/gpt-4o-mini"),
        ]
        assert {(b.scope, b.agent, b.workspace) for b in (daily, monthly)} == {("agent", agent, workspace)}
        event = AuditEvent.objects.get(action="agent.created")
        assert (event.actor, event.workspace, event.data["fallback_models"]) == (
            member,
            workspace,
            ["anthropic/claude-sonnet", "openai/gpt-4o-mini"],
        )
        assert AuditEvent.objects.filter(action="budget.created").count() == 2

    def test_a_name_and_a_model_are_enough(self, client, models):
        response = client.post(AGENTS, {"name": "Écrivain Pro!", "primary_model": "openai/gpt-4o-mini"}, format="json")
        assert response.status_code == 201
        body = response.json()
        assert (body["slug"], body["kind"], body["routing_policy"], body["power_level"]) == (
            "ecrivain-pro",
            "chat",
            "explicit",
            "BALANCED",
        )
        assert (body["fallback_models"], body["task_rules"], body["budgets"]) == ([], {}, [])
        assert body["routing_weights"] == {"cost": 0.4, "latency": 0.4, "quality": 0.2}
        assert (body["privacy_mode"], body["temperature"], body["max_tokens"]) == ("detect", None, None)
        again = client.post(AGENTS, {"name": "Écrivain Pro", "primary_model": "openai/gpt-4o-mini"}, format="json")
        assert again.json()["slug"] == "ecrivain-pro-2"

    def test_an_auto_agent_needs_no_primary_model(self, client, models):
        response = client.post(AGENTS, {"name": "Router", "routing_policy": "auto", "kind": "code"}, format="json")
        assert response.status_code == 201
        assert (response.json()["primary_model"], response.json()["kind"]) == (None, "code")

    def test_aliases_are_stored_as_canonical_ids(self, client, models):
        ModelAliasFactory(alias="sonnet", model=models.sonnet)
        response = client.post(
            AGENTS,
            {
                "name": "A",
                "primary_model": "sonnet",
                "fallback_models": ["openai/gpt-4o"],
                "task_rules": {"math": "sonnet"},
            },
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["primary_model"] == "anthropic/claude-sonnet"
        assert response.json()["task_rules"] == {"math": "anthropic/claude-sonnet"}

    def test_an_api_key_creates_in_its_own_workspace(self, workspace, models):
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        response = client.post(AGENTS, {"name": "Bot", "primary_model": "openai/gpt-4o-mini"}, format="json")
        assert response.status_code == 201
        agent = Agent.objects.get()
        assert (agent.workspace, agent.created_by) == (workspace, None)


BAD_CONFIGS = [
    ({"primary_model": "openai/nope"}, "primary_model", "'openai/nope' is not a model of the catalog."),
    (
        {"primary_model": "openai/gpt-4.1"},
        "primary_model",
        "'openai/gpt-4.1' is not installed in this workspace; install it first.",
    ),
    ({"primary_model": "openai/o3-pro"}, "primary_model", "The Pro plan does not include 'openai/o3-pro'."),
    ({"primary_model": "openai/old"}, "primary_model", "'openai/old' is disabled."),
    (
        {"primary_model": None},
        "primary_model",
        "The explicit routing policy needs a primary model; name one, or use the routing policy 'auto'.",
    ),
    (
        {"fallback_models": ["openai/gpt-4o-mini"]},
        "fallback_models",
        "'openai/gpt-4o-mini' is the primary model; a fallback is another model.",
    ),
    (
        {"fallback_models": ["openai/gpt-4o", "openai/gpt-4o"]},
        "fallback_models",
        "Each fallback appears once; repeated: openai/gpt-4o.",
    ),
    (
        {"fallback_models": ["openai/gpt-4o", "openai/o3-pro"]},
        "fallback_models",
        "The Pro plan does not include 'openai/o3-pro'.",
    ),
    (
        {"fallback_models": [f"m{n}" for n in range(11)]},
        "fallback_models",
        "Ensure this field has no more than 10 elements.",
    ),
    ({"fallback_models": "openai/gpt-4o"}, "fallback_models", None),
    ({"routing_weights": {"cost": -1}}, "routing_weights", None),
    (
        {"routing_weights": {"cost": 0, "latency": 0, "quality": 0}},
        "routing_weights",
        "At least one routing weight must be above zero.",
    ),
    ({"routing_weights": {"price": 1}}, "routing_weights", None),
    ({"routing_weights": {"cost": "NaN"}}, "routing_weights", None),
    ({"task_rules": {"cooking": "openai/gpt-4o"}}, "task_rules", None),
    (
        {"task_rules": {"code": "openai/gpt-4.1"}},
        "task_rules",
        "code: 'openai/gpt-4.1' is not installed in this workspace; install it first.",
    ),
    ({"temperature": "2.5"}, "temperature", None),
    ({"temperature": 0.333}, "temperature", None),
    ({"temperature": "warm"}, "temperature", None),
    ({"max_tokens": 0}, "max_tokens", None),
    ({"max_tokens": 2**31}, "max_tokens", None),
    (
        {"primary_model": "openai/gpt-4o", "max_tokens": 8192},
        "max_tokens",
        "max_tokens is above the 4,096 output tokens of 'openai/gpt-4o'.",
    ),
    ({"privacy_mode": "paranoid"}, "privacy_mode", None),
    ({"routing_policy": "random"}, "routing_policy", None),
    ({"power_level": "max"}, "power_level", None),
    ({"kind": "poetry"}, "kind", None),
    ({"slug": "no spaces"}, "slug", None),
    ({"slug": "taken"}, "slug", "Another agent of this workspace has the slug 'taken'."),
    ({"name": ""}, "name", None),
    ({"fallbacks": ["openai/gpt-4o"]}, "fallbacks", None),
    ({"budgets": [{"limit_usd": "1"}, {"limit_usd": "2"}]}, "budgets", "One budget per period: daily and/or monthly."),
    ({"budgets": [{"limit_usd": "-1"}]}, "budgets", None),
    ({"budgets": [{"limit_usd": "ten"}]}, "budgets", None),
    ({"budgets": [{"limit_usd": "1", "scope": "workspace"}]}, "budgets", None),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_CONFIGS)
def test_an_invalid_configuration_is_400_naming_the_field_and_writes_nothing(
    client, workspace, models, change, field, message
):
    AgentFactory(workspace=workspace, slug="taken", primary_model=models.mini)
    data = {"name": "Bot", "primary_model": "openai/gpt-4o-mini", **change}

    response = client.post(AGENTS, data, format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["extra"]["code"] == "invalid"
    assert list(body["extra"]["fields"]) == [field]
    if message:
        assert body["extra"]["fields"][field] == [message]
        assert body["message"] == f"Invalid input: {field}: {message}"
    assert list(Agent.objects.values_list("slug", flat=True)) == ["taken"]
    assert not AgentFallback.objects.exists()
    assert not Budget.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["agent.created", "budget.created"]).exists()


def test_every_problem_is_reported_at_once(client, models):
    response = client.post(
        AGENTS,
        {
            "name": "Bot",
            "primary_model": "openai/o3-pro",
            "fallback_models": ["openai/gpt-4.1"],
            "task_rules": {"code": "x/y"},
            "routing_weights": {"cost": 0},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {
        "primary_model": ["The Pro plan does not include 'openai/o3-pro'."],
        "fallback_models": ["'openai/gpt-4.1' is not installed in this workspace; install it first."],
        "task_rules": ["code: 'x/y' is not a model of the catalog."],
        "routing_weights": ["At least one routing weight must be above zero."],
    }


class TestList:
    def test_the_workspaces_agents_by_name_with_filters(self, client, workspace, models):
        AgentFactory(workspace=workspace, name="Writer", slug="writer", kind="documents", primary_model=models.mini)
        AgentFactory(workspace=workspace, name="Coder", slug="coder", kind="code", primary_model=models.big)
        AgentFactory(workspace=workspace, name="Archive", slug="old", is_active=False, primary_model=models.mini)
        AgentFactory(name="Theirs", slug="theirs")

        def slugs(params=None):
            response = client.get(AGENTS, params or {})
            assert response.status_code == 200
            return [a["slug"] for a in response.json()["results"]]

        assert slugs() == ["old", "coder", "writer"]
        assert slugs({"is_active": "true"}) == ["coder", "writer"]
        assert slugs({"is_active": "false"}) == ["old"]
        assert slugs({"kind": "code"}) == ["coder"]
        assert slugs({"search": "WRIT"}) == ["writer"]
        assert slugs({"search": "old"}) == ["old"]  # the slug too
        page = client.get(AGENTS, {"page_size": 2, "page": 2}).json()
        assert (page["count"], [a["slug"] for a in page["results"]], page["next"]) == (3, ["writer"], None)

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"status": "on"}, "status"), ({"kind": "poetry"}, "kind"), ({"is_active": "perhaps"}, "is_active")],
    )
    def test_unknown_or_bad_parameters_are_400(self, client, params, field):
        response = client.get(AGENTS, params)
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]

    def test_queries_do_not_grow_with_the_agents(self, client, workspace, models, django_assert_num_queries):
        def add_agent(n: int) -> None:
            agent = AgentFactory(workspace=workspace, slug=f"a{n}", primary_model=models.big)
            AgentFallbackFactory(agent=agent, model=models.sonnet, position=1)
            AgentFallbackFactory(agent=agent, model=models.mini, position=2)
            Budget.objects.create(workspace=workspace, scope="agent", agent=agent, limit_usd=Decimal("5"))

        add_agent(0)
        # session, user, membership, count, agents with primary models, fallbacks with models, budgets
        with django_assert_num_queries(7):
            assert len(client.get(AGENTS).json()["results"]) == 1
        for n in range(1, 20):
            add_agent(n)
        with django_assert_num_queries(7):
            results = client.get(AGENTS).json()["results"]
        assert len(results) == 20
        assert all(a["fallback_models"] == ["anthropic/claude-sonnet", "openai/gpt-4o-mini"] for a in results)
        assert all(a["budgets"][0]["limit_usd"] == "5.00000000" for a in results)


class TestOneAgent:
    @pytest.fixture
    def agent(self, client, models):
        response = client.post(AGENTS, FULL, format="json")
        assert response.status_code == 201
        return Agent.objects.get(pk=response.json()["id"])

    def test_read(self, client, agent, django_assert_num_queries):
        with django_assert_num_queries(6):  # session, user, membership, agent with primary, fallbacks, budgets
            response = client.get(f"{AGENTS}/{agent.pk}")
        assert response.status_code == 200
        assert response.json()["fallback_models"] == FULL["fallback_models"]

    def test_patch_changes_only_the_fields_given_and_audits_them(self, client, agent, member):
        response = client.patch(
            f"{AGENTS}/{agent.pk}",
            {"name": "Helpdesk", "fallback_models": ["openai/gpt-4o-mini", "anthropic/claude-sonnet"]},
            format="json",
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["slug"], body["primary_model"]) == ("Helpdesk", "support-bot", "openai/gpt-4o")
        assert body["fallback_models"] == ["openai/gpt-4o-mini", "anthropic/claude-sonnet"]
        assert body["task_rules"] == FULL["task_rules"] and body["temperature"] == 0.7
        event = AuditEvent.objects.get(action="agent.updated")
        assert event.actor == member
        assert event.data["changes"] == {
            "name": {"from": "Support bot", "to": "Helpdesk"},
            "fallback_models": {
                "from": ["anthropic/claude-sonnet", "openai/gpt-4o-mini"],
                "to": ["openai/gpt-4o-mini", "anthropic/claude-sonnet"],
            },
        }

    def test_the_gateway_routes_with_the_new_configuration(self, client, agent, workspace):
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, agent=agent)
        changed = {"fallback_models": ["openai/gpt-4o-mini"], "power_level": "eco"}
        assert client.patch(f"{AGENTS}/{agent.pk}", changed, format="json").status_code == 200
        policy = load_caller(secret_hash(secret)).agents["support-bot"]
        assert (policy.primary_model, policy.fallbacks, policy.power_level) == (
            "openai/gpt-4o",
            ("openai/gpt-4o-mini",),
            "ECO",
        )

    def test_a_primary_model_that_is_a_fallback_is_refused(self, client, agent):
        response = client.patch(f"{AGENTS}/{agent.pk}", {"primary_model": "openai/gpt-4o-mini"}, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {
            "fallback_models": ["'openai/gpt-4o-mini' is the primary model; a fallback is another model."]
        }
        agent.refresh_from_db()
        assert agent.primary_model.model_id == "openai/gpt-4o"

    def test_an_agent_whose_model_left_the_plan_can_still_be_renamed_and_deactivated(self, client, agent, workspace):
        Plan.objects.filter(pk=workspace.plan_id).update(allowed_tiers=["starter"])  # gpt-4o is pro
        response = client.patch(f"{AGENTS}/{agent.pk}", {"name": "Paused", "is_active": False}, format="json")
        assert response.status_code == 200
        assert (response.json()["name"], response.json()["is_active"]) == ("Paused", False)
        refused = client.patch(f"{AGENTS}/{agent.pk}", {"fallback_models": ["openai/gpt-4o"]}, format="json")
        assert refused.json()["extra"]["fields"] == {
            "fallback_models": ["The Pro plan does not include 'openai/gpt-4o'."]
        }

    def test_budgets_replace_the_agents_budgets_one_per_period(self, client, agent):
        daily = Budget.objects.get(agent=agent, period="daily")
        response = client.patch(
            f"{AGENTS}/{agent.pk}", {"budgets": [{"limit_usd": "40", "period": "daily"}]}, format="json"
        )
        assert response.status_code == 200
        [budget] = response.json()["budgets"]
        assert (budget["id"], budget["period"], budget["limit_usd"]) == (daily.pk, "daily", "40.00000000")
        assert list(Budget.objects.values_list("pk", flat=True)) == [daily.pk]
        assert AuditEvent.objects.filter(action="budget.updated").count() == 1
        assert AuditEvent.objects.filter(action="budget.deleted").count() == 1
        cleared = client.patch(f"{AGENTS}/{agent.pk}", {"budgets": []}, format="json")
        assert cleared.json()["budgets"] == [] and not Budget.objects.exists()

    def test_delete(self, client, agent, member):
        response = client.delete(f"{AGENTS}/{agent.pk}")
        assert response.status_code == 204
        assert not Agent.objects.exists() and not Budget.objects.exists() and not AgentFallback.objects.exists()
        event = AuditEvent.objects.get(action="agent.deleted")
        assert (event.actor, event.data["slug"]) == (member, "support-bot")

    def test_delete_is_refused_while_an_api_key_acts_as_the_agent(self, client, agent, workspace):
        ApiKeyFactory(workspace=workspace, agent=agent, revoked_at=timezone.now())
        live = ApiKeyFactory(workspace=workspace, agent=agent)
        response = client.delete(f"{AGENTS}/{agent.pk}")
        assert response.status_code == 409
        assert response.json() == {
            "message": "1 API key(s) act as agent 'support-bot'; revoke them first, or deactivate the agent.",
            "extra": {"code": "agent_has_api_keys", "api_keys": 1},
        }
        assert Agent.objects.filter(pk=agent.pk).exists()
        live.revoked_at = timezone.now()
        live.save()
        assert client.delete(f"{AGENTS}/{agent.pk}").status_code == 204


def test_another_workspaces_agent_is_404_and_unchanged(client, models):
    theirs = AgentFactory(slug="theirs", name="Theirs", primary_model=models.mini)
    Budget.objects.create(workspace=theirs.workspace, scope="agent", agent=theirs, limit_usd=Decimal("5"))
    url = f"{AGENTS}/{theirs.pk}"

    for method, data in (("get", None), ("patch", {"name": "Mine now"}), ("delete", None)):
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 404
        assert response.json() == {"message": "No such agent in this workspace.", "extra": {"code": "not_found"}}
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Budget.objects.filter(agent=theirs).count() == 1
    assert not AuditEvent.objects.filter(action__startswith="agent.").exists()
    assert client.get(f"{AGENTS}/999999").status_code == 404
