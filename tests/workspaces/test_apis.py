"""/api/workspace through DRF's test client: the installed models (list, filters, install with plan gating,
uninstall) and the workspace settings, scoped to the caller's workspace."""

import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.catalog.models import Model, ModelMode, PlanTier
from apps.workspaces.models import InstalledModel, ModelAccess, Plan, Workspace
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

MODELS = "/api/workspace/models"
SETTINGS = "/api/workspace/settings"


@pytest.fixture
def plans():
    """Three plans, cheapest first: Starter unlocks the starter tier, Pro the pro tier too, Enterprise everything."""
    Plan.objects.all().delete()
    return SimpleNamespace(
        starter=PlanFactory(
            slug="starter", name="Starter", sort_order=10, model_access=ModelAccess.TIERS, allowed_tiers=["starter"]
        ),
        pro=PlanFactory(
            slug="pro", name="Pro", sort_order=20, model_access=ModelAccess.TIERS, allowed_tiers=["starter", "pro"]
        ),
        enterprise=PlanFactory(slug="enterprise", name="Enterprise", sort_order=30, model_access=ModelAccess.ALL),
    )


@pytest.fixture
def workspace(plans):
    return WorkspaceFactory(slug="acme", name="Acme", plan=plans.starter)


@pytest.fixture
def openai():
    return ProviderFactory(slug="openai", name="OpenAI")


@pytest.fixture
def mini(openai):
    return ModelFactory(
        provider=openai,
        upstream_name="gpt-4o-mini",
        display_name="GPT-4o mini",
        plan_tier=PlanTier.STARTER,
        input_price=Decimal("0.00000015"),
        output_price=Decimal("0.0000006"),
        cache_read_price=Decimal("0.000000075"),
        supports_vision=True,
    )


@pytest.fixture
def big(openai):
    return ModelFactory(provider=openai, upstream_name="gpt-4o", plan_tier=PlanTier.PRO)


@pytest.fixture
def frontier(openai):
    return ModelFactory(provider=openai, upstream_name="o3-pro", plan_tier=PlanTier.ENTERPRISE)


class TestList:
    def test_the_workspaces_models_with_prices_capabilities_and_status(self, client, workspace, member, mini):
        InstalledModelFactory(workspace=workspace, model=mini, installed_by=member)
        InstalledModelFactory(model=ModelFactory())  # another workspace's

        response = client.get(MODELS)

        assert response.status_code == 200
        body = response.json()
        assert (body["count"], body["next"], body["previous"]) == (1, None, None)
        [item] = body["results"]
        assert item == {
            "model": "openai/gpt-4o-mini",
            "display_name": "GPT-4o mini",
            "provider": {"slug": "openai", "name": "OpenAI"},
            "mode": "chat",
            "context_window": 128_000,
            "max_output_tokens": 16_384,
            "prices": {
                "price_unknown": False,
                "input_per_million": "0.15",
                "output_per_million": "0.6",
                "cache_read_per_million": "0.075",
                "cache_write_per_million": None,
                "input_per_token": "0.00000015",
                "output_per_token": "0.0000006",
                "cache_read_per_token": "0.000000075",
                "cache_write_per_token": None,
            },
            "capabilities": {"tools": True, "vision": True, "json": True, "streaming": True, "reasoning": False},
            "category": "balanced",
            "power_level": "BALANCED",
            "plan_tier": "starter",
            "deprecated_at": None,
            "status": "available",
            "installed_at": item["installed_at"],
            "installed_by": "ada",
        }

    def test_status_says_why_a_model_cannot_be_called_and_available_filters_on_it(self, client, workspace, mini, big):
        off_provider = ProviderFactory(slug="retired", enabled=False)
        rows = {
            "available": mini,
            "not_in_plan": big,  # installed when the workspace was on a larger plan
            "model_disabled": ModelFactory(provider=mini.provider, upstream_name="old", enabled=False),
            "provider_disabled": ModelFactory(provider=off_provider, upstream_name="x", plan_tier=PlanTier.STARTER),
        }
        for model in rows.values():
            InstalledModelFactory(workspace=workspace, model=model)

        statuses = {i["model"]: i["status"] for i in client.get(MODELS).json()["results"]}
        assert statuses == {model.model_id: status for status, model in rows.items()}
        available = client.get(MODELS, {"available": "true"}).json()["results"]
        assert [i["model"] for i in available] == [mini.model_id]
        unavailable = client.get(MODELS, {"available": "false"}).json()["results"]
        unavailable_ids = sorted(m.model_id for status, m in rows.items() if status != "available")
        assert sorted(i["model"] for i in unavailable) == unavailable_ids

    def test_search_and_provider_filters(self, client, workspace, mini, big):
        anthropic = ProviderFactory(slug="anthropic")
        sonnet = ModelFactory(provider=anthropic, upstream_name="claude-sonnet", display_name="Claude Sonnet")
        for model in (mini, big, sonnet):
            InstalledModelFactory(workspace=workspace, model=model)

        def ids(params):
            return [i["model"] for i in client.get(MODELS, params).json()["results"]]

        assert ids({"search": "MINI"}) == ["openai/gpt-4o-mini"]
        assert ids({"search": "sonnet"}) == ["anthropic/claude-sonnet"]  # by display name too
        assert ids({"provider": "openai"}) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
        assert ids({"provider": "openai", "search": "4o-"}) == ["openai/gpt-4o-mini"]
        assert ids({"provider": "nobody"}) == []

    def test_pages_in_model_id_order(self, client, workspace, openai):
        for n in range(5):
            InstalledModelFactory(workspace=workspace, model=ModelFactory(provider=openai, upstream_name=f"m{4 - n}"))

        first = client.get(MODELS, {"page_size": 2}).json()
        assert first["count"] == 5
        assert [i["model"] for i in first["results"]] == ["openai/m0", "openai/m1"]
        last = client.get(MODELS, {"page_size": 2, "page": 3}).json()
        assert [i["model"] for i in last["results"]] == ["openai/m4"]
        assert last["next"] is None and "page=2" in last["previous"]
        beyond = client.get(MODELS, {"page_size": 2, "page": 4})
        assert beyond.status_code == 404
        assert beyond.json() == {"message": "Invalid page.", "extra": {"code": "not_found"}}

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"sort": "price"}, "sort"),
            ({"availble": "true"}, "availble"),
            ({"available": "maybe"}, "available"),
            ({"page_size": "500"}, "page_size"),
            ({"page": "first"}, "page"),
            ({"provider": "not a slug"}, "provider"),
        ],
    )
    def test_unknown_or_bad_parameters_are_400_naming_them(self, client, params, field):
        response = client.get(MODELS, params)
        assert response.status_code == 400
        body = response.json()
        assert body["extra"]["code"] == "invalid"
        assert list(body["extra"]["fields"]) == [field]
        assert body["message"].startswith(f"Invalid input: {field}: ")

    def test_queries_do_not_grow_with_the_models(self, client, workspace, openai, django_assert_num_queries):
        InstalledModelFactory(workspace=workspace, model=ModelFactory(provider=openai))
        with django_assert_num_queries(5):  # session, user, membership, count, page with models and providers
            assert len(client.get(MODELS).json()["results"]) == 1
        for _ in range(30):
            InstalledModelFactory(workspace=workspace, model=ModelFactory(provider=ProviderFactory()))
        with django_assert_num_queries(5):
            assert len(client.get(MODELS).json()["results"]) == 31

    def test_an_api_key_lists_its_own_workspace(self, workspace, mini):
        InstalledModelFactory(workspace=workspace, model=mini)
        InstalledModelFactory(model=ModelFactory())
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert [i["model"] for i in client.get(MODELS).json()["results"]] == [mini.model_id]

    def test_no_credentials_get_401(self):
        response = APIClient().get(MODELS)
        assert response.status_code == 401
        assert response.json()["extra"] == {"code": "not_authenticated"}


@pytest.mark.slow
def test_every_model_of_the_shipped_catalog_pages_in_order(client, workspace, plans, django_assert_num_queries):
    """The full LiteLLM snapshot installed in one workspace: every page of 200 in model id order, each in the same
    number of queries."""
    call_command("sync_catalog", "--no-progress", stdout=io.StringIO())
    Workspace.objects.filter(pk=workspace.pk).update(plan=plans.enterprise)
    Model.objects.update(enabled=True)
    InstalledModel.objects.bulk_create(InstalledModel(workspace=workspace, model=m) for m in Model.objects.all())
    expected = list(Model.objects.order_by("model_id").values_list("model_id", flat=True))
    assert len(expected) > 3000

    seen, page = [], 1
    while True:
        with django_assert_num_queries(5):
            body = client.get(MODELS, {"page_size": 200, "page": page}).json()
        seen += [item["model"] for item in body["results"]]
        assert all(item["status"] in ("available", "provider_disabled") for item in body["results"])
        if body["next"] is None:
            break
        page += 1
    assert body["count"] == len(expected)
    assert seen == expected
    assert page == -(-len(expected) // 200)


class TestInstall:
    def test_installs_a_model_the_plan_includes(self, client, workspace, member, mini):
        response = client.post(MODELS, {"model": "openai/gpt-4o-mini"}, format="json")

        assert response.status_code == 201
        assert (response.json()["model"], response.json()["status"]) == ("openai/gpt-4o-mini", "available")
        assert response.json()["installed_by"] == "ada"
        installed = InstalledModel.objects.get()
        assert (installed.workspace, installed.model, installed.installed_by) == (workspace, mini, member)
        event = AuditEvent.objects.get(action="model.installed")
        assert (event.workspace, event.actor, event.data) == (workspace, member, {"model": "openai/gpt-4o-mini"})

    def test_installing_again_is_200_and_changes_nothing(self, client, workspace, mini):
        assert client.post(MODELS, {"model": mini.model_id}, format="json").status_code == 201
        again = client.post(MODELS, {"model": mini.model_id}, format="json")
        assert again.status_code == 200
        assert again.json()["model"] == mini.model_id
        assert InstalledModel.objects.count() == 1
        assert AuditEvent.objects.filter(action="model.installed").count() == 1

    def test_an_alias_installs_its_model(self, client, workspace, mini):
        ModelAliasFactory(alias="gpt-4o-mini", model=mini)
        response = client.post(MODELS, {"model": "gpt-4o-mini"}, format="json")
        assert response.status_code == 201
        assert response.json()["model"] == "openai/gpt-4o-mini"

    def test_a_model_the_plan_does_not_include_is_403_naming_the_plan_that_does(self, client, big, frontier):
        response = client.post(MODELS, {"model": big.model_id}, format="json")

        assert response.status_code == 403
        assert response.json() == {
            "message": "The Starter plan does not include openai/gpt-4o; the Pro plan includes it.",
            "extra": {
                "code": "plan_forbids_model",
                "plan": "starter",
                "upgrade_plan": "pro",
                "fields": {"model": ["The Starter plan does not include openai/gpt-4o; the Pro plan includes it."]},
            },
        }
        enterprise_only = client.post(MODELS, {"model": frontier.model_id}, format="json").json()
        assert enterprise_only["extra"]["upgrade_plan"] == "enterprise"
        assert not InstalledModel.objects.exists()
        assert not AuditEvent.objects.filter(action="model.installed").exists()

    def test_a_model_no_plan_includes_says_so(self, client, plans, big):
        Plan.objects.filter(pk__in=[plans.pro.pk, plans.enterprise.pk]).update(allowed_tiers=[], model_access="tiers")
        body = client.post(MODELS, {"model": big.model_id}, format="json").json()
        assert body["message"] == "The Starter plan does not include openai/gpt-4o; no plan includes it yet; ask staff."
        assert body["extra"]["upgrade_plan"] is None

    def test_a_disabled_model_is_403(self, client, openai):
        ModelFactory(provider=openai, upstream_name="off", enabled=False, plan_tier=PlanTier.STARTER)
        response = client.post(MODELS, {"model": "openai/off"}, format="json")
        assert response.status_code == 403
        assert response.json()["extra"]["code"] == "model_disabled"
        assert not InstalledModel.objects.exists()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({}, "model", "Invalid input: model: This field is required."),
            ({"model": "openai/nope"}, "model", "Invalid input: model: 'openai/nope' is not a model of the catalog."),
            ({"model": ""}, "model", None),
            ({"model": ["a", "b"]}, "model", None),
            ({"model": "openai/gpt-4o-mini", "force": True}, "force", None),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, mini, data, field, message):
        response = client.post(MODELS, data, format="json")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]
        if message:
            assert response.json()["message"] == message
        assert not InstalledModel.objects.exists()


class TestUninstall:
    def test_uninstalls_by_canonical_id(self, client, workspace, member, mini):
        InstalledModelFactory(workspace=workspace, model=mini)
        response = client.delete(f"{MODELS}/openai/gpt-4o-mini")
        assert response.status_code == 204
        assert not InstalledModel.objects.exists()
        event = AuditEvent.objects.get(action="model.uninstalled")
        assert (event.workspace, event.actor, event.data) == (workspace, member, {"model": "openai/gpt-4o-mini"})

    def test_a_model_installed_only_in_another_workspace_is_404_and_stays(self, client, mini):
        theirs = InstalledModelFactory(workspace=WorkspaceFactory(), model=mini)
        for url in (f"{MODELS}/openai/gpt-4o-mini", f"{MODELS}/openai/unknown"):
            response = client.delete(url)
            assert response.status_code == 404
            assert response.json()["extra"] == {"code": "not_found"}
        assert response.json()["message"] == "No model 'openai/unknown' is installed in this workspace."
        assert InstalledModel.objects.get() == theirs
        assert not AuditEvent.objects.filter(action="model.uninstalled").exists()

    def test_a_model_an_agent_or_a_default_names_is_409_and_stays(self, client, workspace, mini, big):
        Workspace.objects.filter(pk=workspace.pk).update(plan=Plan.objects.get(slug="pro"))
        for model in (mini, big):
            InstalledModelFactory(workspace=workspace, model=model)
        AgentFactory(workspace=workspace, slug="writer", primary_model=mini)
        coder = AgentFactory(workspace=workspace, slug="coder", primary_model=big, task_rules={"code": mini.model_id})
        AgentFallbackFactory(agent=coder, model=mini, position=1)
        AgentFactory(slug="elsewhere", primary_model=mini)  # another workspace's agent does not count
        Workspace.objects.filter(pk=workspace.pk).update(default_models={"chat": mini.model_id})

        response = client.delete(f"{MODELS}/{mini.model_id}")

        assert response.status_code == 409
        assert response.json() == {
            "message": (
                "openai/gpt-4o-mini is still used by agent 'coder' (fallback, task rule code); "
                "agent 'writer' (primary model); the workspace's default chat model; change them first."
            ),
            "extra": {"code": "model_in_use", "agents": ["coder", "writer"], "default_for": ["chat"]},
        }
        assert InstalledModel.objects.filter(workspace=workspace).count() == 2


class TestSettings:
    @pytest.fixture
    def installed(self, workspace, mini, openai):
        embedder = ModelFactory(
            provider=openai, upstream_name="text-embedding-3-small", mode=ModelMode.EMBEDDING, plan_tier="starter"
        )
        for model in (mini, embedder):
            InstalledModelFactory(workspace=workspace, model=model)
        return SimpleNamespace(chat=mini, embedder=embedder)

    def test_get_shows_every_setting_and_every_category(self, client, workspace):
        Workspace.objects.filter(pk=workspace.pk).update(
            default_models={"chat": "openai/gpt-4o-mini", "legacy": "x"}, alert_emails=["ops@acme.test"]
        )
        response = client.get(SETTINGS)
        assert response.status_code == 200
        assert response.json() == {
            "workspace": {"slug": "acme", "name": "Acme"},
            "plan": {"slug": "starter", "name": "Starter"},
            "preferred_power_level": "BALANCED",
            "routing_weights": {"cost": 0.4, "latency": 0.4, "quality": 0.2},
            "default_models": {
                "chat": "openai/gpt-4o-mini",
                "code": None,
                "documents": None,
                "rag": None,
                "embeddings": None,
                "orchestration": None,
            },
            "timezone": "UTC",
            "alert_emails": ["ops@acme.test"],
            "alert_webhook_url": "",
        }

    def test_put_sets_everything_and_is_audited_without_the_webhook_url(self, client, workspace, member, installed):
        Workspace.objects.filter(pk=workspace.pk).update(default_models={"code": installed.chat.model_id})
        hook = "https://hooks.acme.test/T000/B000/secret-token"
        response = client.put(
            SETTINGS,
            {
                "preferred_power_level": "eco",
                "routing_weights": {"cost": 2, "quality": 1},
                "default_models": {"chat": "openai/gpt-4o-mini", "embeddings": "openai/text-embedding-3-small"},
                "timezone": "Europe/Paris",
                "alert_emails": ["ops@acme.test", "cto@acme.test", "ops@acme.test"],
                "alert_webhook_url": hook,
            },
            format="json",
        )

        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["preferred_power_level"] == "ECO"
        assert body["routing_weights"] == {"cost": 2.0, "latency": 0.0, "quality": 1.0}
        assert body["default_models"]["chat"] == "openai/gpt-4o-mini"
        assert body["default_models"]["embeddings"] == "openai/text-embedding-3-small"
        assert body["default_models"]["code"] is None  # PUT replaces them all
        assert (body["timezone"], body["alert_emails"], body["alert_webhook_url"]) == (
            "Europe/Paris",
            ["ops@acme.test", "cto@acme.test"],
            hook,
        )
        workspace.refresh_from_db()
        assert workspace.default_models == {
            "chat": "openai/gpt-4o-mini",
            "embeddings": "openai/text-embedding-3-small",
        }
        assert (workspace.preferred_power_level, workspace.timezone) == ("ECO", "Europe/Paris")
        event = AuditEvent.objects.get(action="workspace.settings_changed")
        assert event.actor == member
        assert event.data["changes"]["alert_webhook_url"] == {"from": "", "to": "set"}
        assert event.data["changes"]["timezone"] == {"from": "UTC", "to": "Europe/Paris"}
        assert "secret-token" not in repr(event.data)

    def test_put_needs_every_setting(self, client):
        response = client.put(SETTINGS, {"timezone": "UTC"}, format="json")
        assert response.status_code == 400
        assert set(response.json()["extra"]["fields"]) == {
            "preferred_power_level",
            "routing_weights",
            "default_models",
            "alert_emails",
            "alert_webhook_url",
        }

    def test_patch_changes_only_what_it_names(self, client, workspace, installed):
        Workspace.objects.filter(pk=workspace.pk).update(default_models={"chat": installed.chat.model_id})
        response = client.patch(
            SETTINGS, {"default_models": {"code": "openai/gpt-4o-mini"}, "alert_emails": []}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["default_models"]["chat"] == "openai/gpt-4o-mini"
        assert response.json()["default_models"]["code"] == "openai/gpt-4o-mini"
        cleared = client.patch(SETTINGS, {"default_models": {"chat": None}}, format="json").json()
        assert cleared["default_models"]["chat"] is None and cleared["default_models"]["code"] == "openai/gpt-4o-mini"
        workspace.refresh_from_db()
        assert workspace.default_models == {"code": "openai/gpt-4o-mini"}
        assert workspace.timezone == "UTC"

    def test_an_unchanged_setting_writes_no_audit_event(self, client):
        assert client.patch(SETTINGS, {"timezone": "UTC"}, format="json").status_code == 200
        assert not AuditEvent.objects.filter(action="workspace.settings_changed").exists()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"preferred_power_level": "turbo"}, "preferred_power_level", None),
            ({"routing_weights": {"cost": -1}}, "routing_weights", None),
            ({"routing_weights": {"cost": "cheap"}}, "routing_weights", None),
            ({"routing_weights": {"speed": 1}}, "routing_weights", None),
            (
                {"routing_weights": {"cost": 0, "latency": 0}},
                "routing_weights",
                "Invalid input: routing_weights: At least one routing weight must be above zero.",
            ),
            (
                {"default_models": {"poetry": "openai/gpt-4o-mini"}},
                "default_models",
                "Invalid input: default_models: Unknown field; the fields are: "
                "chat, code, documents, rag, embeddings, orchestration.",
            ),
            (
                {"default_models": {"chat": "openai/gpt-4o"}},
                "default_models",
                "Invalid input: default_models: chat: The Starter plan does not include 'openai/gpt-4o'.",
            ),
            (
                {"default_models": {"code": "openai/o4"}},
                "default_models",
                "Invalid input: default_models: code: 'openai/o4' is not a model of the catalog.",
            ),
            (
                {"default_models": {"chat": "openai/gpt-4o-mini-2"}},
                "default_models",
                "Invalid input: default_models: chat: 'openai/gpt-4o-mini-2' is not installed in this workspace; "
                "install it first.",
            ),
            (
                {"default_models": {"embeddings": "openai/gpt-4o-mini"}},
                "default_models",
                "Invalid input: default_models: embeddings: 'openai/gpt-4o-mini' is a chat model; embeddings needs "
                "an embedding model.",
            ),
            (
                {"default_models": {"rag": "openai/text-embedding-3-small"}},
                "default_models",
                "Invalid input: default_models: rag: 'openai/text-embedding-3-small' is a embedding model; rag needs "
                "a model that generates text, not embeddings.",
            ),
            (
                {"timezone": "Mars/Olympus"},
                "timezone",
                "Invalid input: timezone: Unknown time zone 'Mars/Olympus'; use an IANA name such as 'Europe/Paris' "
                "or 'UTC'.",
            ),
            ({"alert_emails": ["not-an-email"]}, "alert_emails", None),
            ({"alert_emails": [f"a{n}@x.test" for n in range(21)]}, "alert_emails", None),
            ({"alert_webhook_url": "ftp://hooks.test/x"}, "alert_webhook_url", None),
            ({"billing_mode": "prepaid"}, "billing_mode", None),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_changes_nothing(
        self, client, workspace, installed, big, openai, data, field, message
    ):
        ModelFactory(provider=openai, upstream_name="gpt-4o-mini-2", plan_tier="starter")
        before = Workspace.objects.values().get(pk=workspace.pk)
        response = client.patch(SETTINGS, data, format="json")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]
        if message:
            assert response.json()["message"] == message
        assert Workspace.objects.values().get(pk=workspace.pk) == before
        assert not AuditEvent.objects.filter(action="workspace.settings_changed").exists()

    def test_every_problem_is_reported_at_once(self, client):
        response = client.patch(
            SETTINGS,
            {"default_models": {"chat": "a/b", "code": "c/d"}, "timezone": "Nowhere", "preferred_power_level": "ECO"},
            format="json",
        )
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {
            "default_models": [
                "chat: 'a/b' is not a model of the catalog.",
                "code: 'c/d' is not a model of the catalog.",
            ],
            "timezone": ["Unknown time zone 'Nowhere'; use an IANA name such as 'Europe/Paris' or 'UTC'."],
        }

    def test_an_api_key_reads_and_writes_its_own_workspace(self, workspace):
        other = WorkspaceFactory(slug="other", plan=workspace.plan)
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.patch(SETTINGS, {"timezone": "Asia/Tokyo"}, format="json").json()["timezone"] == "Asia/Tokyo"
        workspace.refresh_from_db()
        other.refresh_from_db()
        assert (workspace.timezone, other.timezone) == ("Asia/Tokyo", "UTC")
        event = AuditEvent.objects.get(action="workspace.settings_changed")
        assert (event.workspace, event.actor) == (workspace, None)

    def test_settings_cost_three_queries_to_read(self, client, django_assert_num_queries):
        with django_assert_num_queries(3):  # session, user, membership with workspace and plan
            assert client.get(SETTINGS).status_code == 200
