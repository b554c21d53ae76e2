"""/api/staff through DRF's test client: who may call it, providers, models (over the full shipped catalog too), plan
gating, bad input, audit events and pinned query counts."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.catalog.models import Model, ModelAlias, PlanTier, PriceChange, PrivacyClass, Provider
from apps.catalog.services import catalog_sync
from apps.core.errors import ApplicationError
from apps.workspaces.models import ModelAccess, Plan
from apps.workspaces.selectors import installed_model_available_list
from apps.workspaces.services import model_install
from tests.catalog.conftest import litellm_feed
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PROVIDERS = "/api/staff/providers"
MODELS = "/api/staff/models"
BULK = "/api/staff/bulk/models"
PLANS = "/api/staff/plans"
PLATFORM_SECRET = "sk-platform-live-0123456789-SECRETVALUE-wxyz"


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", plan=Plan.objects.get(slug="pro"))


@pytest.fixture
def staff():
    return UserFactory(username="root", superuser=True)


@pytest.fixture
def staff_key(workspace, staff):
    return ApiKeyFactory.create_with_secret(workspace=workspace, created_by=staff, name="ops")


@pytest.fixture
def api(staff_key) -> APIClient:
    """A staff member's API key."""
    return bearer(staff_key[1])


@pytest.fixture
def catalog():
    openai = ProviderFactory(slug="openai", name="OpenAI", priority=10)
    ollama = ProviderFactory(slug="ollama", name="Ollama", priority=50, enabled=False, privacy_class=PrivacyClass.LOCAL)
    mini = ModelFactory(
        provider=openai,
        upstream_name="gpt-4o-mini",
        model_id="openai/gpt-4o-mini",
        plan_tier=PlanTier.STARTER,
        default_installed=True,
        popularity=90,
    )
    large = ModelFactory(
        provider=openai,
        upstream_name="gpt-4.1",
        model_id="openai/gpt-4.1",
        plan_tier=PlanTier.PRO,
        input_price=Decimal("0.000002"),
        output_price=Decimal("0.000008"),
        cache_read_price=Decimal("0.0000005"),
        popularity=40,
    )
    llama = ModelFactory(
        provider=ollama,
        upstream_name="llama3",
        model_id="ollama/llama3",
        plan_tier=PlanTier.STARTER,
        enabled=False,
        input_price=Decimal("0"),
        output_price=Decimal("0"),
    )
    return {"openai": openai, "ollama": ollama, "mini": mini, "large": large, "llama": llama}


@pytest.fixture
def plan(catalog):
    return PlanFactory(
        slug="gold", name="Gold", sort_order=40, model_access=ModelAccess.DEFAULT, allowed_models=[catalog["mini"]]
    )


def _event(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


# Who may call ---------------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", PROVIDERS, None),
    ("get", f"{PROVIDERS}/openai", None),
    ("patch", f"{PROVIDERS}/openai", {"enabled": False}),
    ("get", MODELS, None),
    ("post", BULK, {"models": ["openai/gpt-4o-mini"], "enabled": False}),
    ("get", f"{MODELS}/openai/gpt-4o-mini", None),
    ("patch", f"{MODELS}/openai/gpt-4o-mini", {"enabled": False}),
    ("get", PLANS, None),
    ("get", f"{PLANS}/gold", None),
    ("patch", f"{PLANS}/gold", {"model_access": "all"}),
    ("get", f"{PLANS}/gold/models", None),
    ("post", f"{PLANS}/gold/models", {"models": ["openai/gpt-4.1"]}),
    ("delete", f"{PLANS}/gold/models/openai/gpt-4o-mini", None),
]


def _state() -> dict:
    """Everything the staff endpoints can change."""
    return {
        "providers": list(Provider.objects.order_by("pk").values()),
        "models": list(Model.objects.order_by("pk").values()),
        "plans": list(Plan.objects.order_by("pk").values()),
        "plan_models": sorted(Plan.allowed_models.through.objects.values_list("plan_id", "model_id")),
        "audit": AuditEvent.objects.count(),
    }


def _call(client: APIClient, method: str, url: str, body):
    return getattr(client, method)(url, data=body, format="json") if body is not None else getattr(client, method)(url)


@pytest.mark.usefixtures("plan")
class TestWhoMayCall:
    @pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
    def test_anonymous_callers_get_401(self, method, url, body):
        response = _call(APIClient(), method, url, body)
        assert response.status_code == 401
        assert response.json()["extra"] == {"code": "not_authenticated"}

    @pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
    def test_members_who_are_not_staff_get_403_and_change_nothing(self, method, url, body, workspace):
        owner = MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=owner)
        before = _state()
        for client in (signed_in(owner), bearer(secret)):
            response = _call(client, method, url, body)
            assert response.status_code == 403
            assert response.json() == {"message": "Staff only.", "extra": {"code": "permission_denied"}}
        assert _state() == before

    def test_another_workspaces_staff_key_is_staff_too_but_a_key_without_a_member_is_not(self, workspace, staff):
        # Providers, models and plans are platform-wide: the key's workspace does not matter, its staff member does.
        _, staff_secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory(), created_by=staff)
        assert bearer(staff_secret).get(PROVIDERS).status_code == 200
        _, orphan_secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=None)
        response = bearer(orphan_secret).get(PROVIDERS)
        assert response.status_code == 403
        assert response.json()["message"] == "Staff only: this API key has no staff member behind it."

    def test_a_staff_key_of_a_deactivated_workspace_is_refused(self, staff):
        _, secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory(is_active=False), created_by=staff)
        response = bearer(secret).get(PROVIDERS)
        assert response.status_code == 403
        assert response.json()["message"] == "This workspace is deactivated."

    def test_an_inactive_staff_members_key_is_refused(self, workspace):
        former = UserFactory(username="former", superuser=True, is_active=False)
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=former)
        assert bearer(secret).get(PROVIDERS).status_code == 403

    @pytest.mark.parametrize("credentials", ["api key", "session"])
    @pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
    def test_a_staff_members_key_and_session_may_call(self, method, url, body, credentials, api, staff):
        client = api if credentials == "api key" else signed_in(staff)
        assert _call(client, method, url, body).status_code in (200, 204)

    def test_a_staff_session_needs_no_workspace(self, staff):
        assert staff.memberships.count() == 0
        assert signed_in(staff).get(f"{MODELS}/openai/gpt-4o-mini").status_code == 200

    def test_permissions_are_the_admins_view_to_read_change_to_write(self, workspace):
        clerk = UserFactory(username="clerk", staff=True)
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=clerk)

        response = bearer(secret).get(PROVIDERS)
        assert response.status_code == 403
        assert response.json()["message"] == "You need the permission 'catalog.change_provider' for this."

        clerk.user_permissions.add(Permission.objects.get(codename="view_provider"))
        assert bearer(secret).get(PROVIDERS).status_code == 200
        assert bearer(secret).patch(f"{PROVIDERS}/openai", {"enabled": False}, format="json").status_code == 403
        assert Provider.objects.get(slug="openai").enabled is True
        assert bearer(secret).get(MODELS).status_code == 403  # a permission on providers is not one on models

        clerk.user_permissions.add(Permission.objects.get(codename="change_provider"))
        assert bearer(secret).patch(f"{PROVIDERS}/openai", {"enabled": False}, format="json").status_code == 200
        assert Provider.objects.get(slug="openai").enabled is False


# Providers ------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
class TestProviders:
    def test_list_shows_counts_and_only_the_mask_of_the_platform_key(self, api):
        Provider.objects.filter(slug="openai").update(platform_key_mask="sk-…wxyz")

        response = api.get(PROVIDERS)

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        openai, ollama = body["results"]  # by priority
        assert openai == {
            "id": openai["id"],
            "slug": "openai",
            "name": "OpenAI",
            "adapter_kind": "openai",
            "base_url": "http://127.0.0.1:9100/v1",
            "enabled": True,
            "priority": 10,
            "privacy_class": "standard",
            "env_key_name": "",
            "platform_key_mask": "sk-…wxyz",
            "model_count": 2,
            "enabled_model_count": 2,
            "updated_at": openai["updated_at"],
        }
        assert (ollama["slug"], ollama["enabled"], ollama["model_count"], ollama["enabled_model_count"]) == (
            "ollama",
            False,
            1,
            0,
        )

    @pytest.mark.parametrize(
        ("query", "slugs"),
        [
            ("enabled=true", ["openai"]),
            ("enabled=false", ["ollama"]),
            ("privacy_class=local", ["ollama"]),
            ("adapter_kind=anthropic", []),
            ("q=OLL", ["ollama"]),
            ("ordering=-priority", ["ollama", "openai"]),
            ("ordering=name", ["ollama", "openai"]),
            ("page_size=1", ["openai"]),
            ("page_size=1&page=2", ["ollama"]),
        ],
    )
    def test_filters_sort_and_pages(self, api, query, slugs):
        response = api.get(f"{PROVIDERS}?{query}")
        assert response.status_code == 200
        assert [row["slug"] for row in response.json()["results"]] == slugs

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("enabeld=true", "enabeld"),
            ("enabled=maybe", "enabled"),
            ("privacy_class=secret", "privacy_class"),
            ("ordering=platform_key", "ordering"),
            ("page=0", "page"),
            ("page=two", "page"),
            ("page_size=201", "page_size"),
        ],
    )
    def test_bad_query_parameters_are_400_naming_them(self, api, query, field):
        response = api.get(f"{PROVIDERS}?{query}")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]

    def test_the_list_costs_three_queries_however_many_providers(self, api, django_assert_num_queries):
        with django_assert_num_queries(3):  # the API key with its member, the count, the page with its model counts
            assert api.get(PROVIDERS).status_code == 200
        for n in range(6):
            ModelFactory(provider=ProviderFactory(slug=f"extra-{n}"))
        with django_assert_num_queries(3):
            assert api.get(PROVIDERS).json()["count"] == 8

    def test_the_detail_costs_two_queries(self, api, django_assert_num_queries):
        with django_assert_num_queries(2):  # the API key with its member, the provider with its model counts
            assert api.get(f"{PROVIDERS}/openai").json()["model_count"] == 2

    def test_an_unknown_provider_is_404(self, api):
        for response in (
            api.get(f"{PROVIDERS}/nope"),
            api.patch(f"{PROVIDERS}/nope", {"enabled": True}, format="json"),
        ):
            assert response.status_code == 404
            assert response.json() == {"message": "No provider 'nope'.", "extra": {"code": "not_found"}}

    def test_staff_change_a_provider_and_the_audit_log_says_who(self, api, staff, staff_key):
        response = api.patch(
            f"{PROVIDERS}/openai",
            {"enabled": False, "priority": 5, "base_url": "http://127.0.0.1:9200/v1", "name": "OpenAI"},
            format="json",
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["enabled"], body["priority"], body["base_url"]) == (False, 5, "http://127.0.0.1:9200/v1")
        provider = Provider.objects.get(slug="openai")
        assert (provider.enabled, provider.priority, provider.base_url) == (False, 5, "http://127.0.0.1:9200/v1")
        event = _event("provider.changed")
        assert (event.actor, event.actor_api_key, event.workspace, event.target_id) == (
            staff,
            staff_key[0],
            None,
            str(provider.pk),
        )
        assert event.data == {
            "changes": {
                "enabled": {"from": True, "to": False},
                "priority": {"from": 10, "to": 5},
                "base_url": {"from": "http://127.0.0.1:9100/v1", "to": "http://127.0.0.1:9200/v1"},
            }
        }

    def test_the_platform_key_is_write_only(self, api):
        response = api.patch(f"{PROVIDERS}/openai", {"platform_key": f"  {PLATFORM_SECRET} "}, format="json")

        assert response.status_code == 200
        assert PLATFORM_SECRET not in response.content.decode()
        assert "platform_key" not in response.json()
        assert response.json()["platform_key_mask"] == "sk-…wxyz"
        assert Provider.objects.get(slug="openai").platform_key == PLATFORM_SECRET
        event = _event("provider.changed")
        assert event.data == {"changes": {"platform_key_mask": {"from": "", "to": "sk-…wxyz"}}}
        assert PLATFORM_SECRET not in str(event.data)
        assert PLATFORM_SECRET not in api.get(f"{PROVIDERS}/openai").content.decode()

        cleared = api.patch(f"{PROVIDERS}/openai", {"platform_key": ""}, format="json")
        assert cleared.json()["platform_key_mask"] == ""
        assert Provider.objects.get(slug="openai").platform_key == ""

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"priority": "first"}, "priority"),
            ({"priority": 10**7}, "priority"),
            ({"enabled": "sometimes"}, "enabled"),
            ({"base_url": "not a url"}, "base_url"),
            ({"privacy_class": "secret"}, "privacy_class"),
            ({"env_key_name": "OPENAI KEY"}, "env_key_name"),
            ({"name": ""}, "name"),
            ({"enable": False}, "enable"),
            ({"slug": "renamed"}, "slug"),
            ({}, "non_field_errors"),
            (["enabled"], "non_field_errors"),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_changes_nothing(self, api, body, field):
        before = _state()
        response = api.patch(f"{PROVIDERS}/openai", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]
        assert response.json()["message"].startswith("Invalid input")
        assert _state() == before

    def test_a_disabled_provider_takes_its_models_out_of_the_workspaces(self, api, workspace, catalog):
        InstalledModelFactory(workspace=workspace, model=catalog["mini"])
        assert [m.model_id for m in installed_model_available_list(workspace=workspace)] == ["openai/gpt-4o-mini"]

        api.patch(f"{PROVIDERS}/openai", {"enabled": False}, format="json")

        assert list(installed_model_available_list(workspace=workspace)) == []


# Models ---------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
class TestModels:
    def test_detail_by_canonical_id_with_prices_per_token_and_per_million_and_the_plans_allowing_it(self, api, plan):
        PlanFactory(slug="team", sort_order=50, model_access=ModelAccess.TIERS, allowed_tiers=[PlanTier.PRO])
        PlanFactory(slug="max", sort_order=60, model_access=ModelAccess.ALL)

        response = api.get(f"{MODELS}/openai/gpt-4.1")

        assert response.status_code == 200
        body = response.json()
        assert (body["model_id"], body["provider"], body["plan_tier"]) == ("openai/gpt-4.1", "openai", "pro")
        assert (body["input_price"], body["input_price_per_million"]) == ("0.000002", "2")
        assert (body["output_price"], body["output_price_per_million"]) == ("0.000008", "8")
        assert (body["cache_read_price"], body["cache_read_price_per_million"]) == ("0.0000005", "0.5")
        assert (body["cache_write_price"], body["cache_write_price_per_million"]) == (None, None)
        assert body["quality_score"] == "0.5"
        # The seeded plans first (Starter gives default models only; Pro and Enterprise every model), then ours:
        # not Gold, which lists gpt-4o-mini and gives default models.
        assert body["plans"] == ["pro", "enterprise", "team", "max"]
        assert api.get(f"{MODELS}/openai/gpt-4o-mini").json()["plans"] == [
            "starter",
            "pro",
            "enterprise",
            "gold",
            "max",
        ]

    def test_detail_costs_four_queries(self, api, plan, django_assert_num_queries):
        with django_assert_num_queries(4):  # the API key, the model with its provider, the plans, their listings
            assert api.get(f"{MODELS}/openai/gpt-4.1").status_code == 200

    def test_an_unknown_model_is_404(self, api):
        response = api.get(f"{MODELS}/openai/gpt-9")
        assert response.status_code == 404
        assert response.json() == {"message": "No model 'openai/gpt-9'.", "extra": {"code": "not_found"}}
        assert api.patch(f"{MODELS}/openai/gpt-9", {"enabled": True}, format="json").status_code == 404

    @pytest.mark.parametrize(
        ("query", "ids"),
        [
            ("", ["ollama/llama3", "openai/gpt-4.1", "openai/gpt-4o-mini"]),
            ("provider=openai", ["openai/gpt-4.1", "openai/gpt-4o-mini"]),
            ("enabled=false", ["ollama/llama3"]),
            ("plan_tier=pro", ["openai/gpt-4.1"]),
            ("default_installed=true", ["openai/gpt-4o-mini"]),
            ("q=MINI", ["openai/gpt-4o-mini"]),
            ("deprecated=false&price_unknown=false", ["ollama/llama3", "openai/gpt-4.1", "openai/gpt-4o-mini"]),
            ("deprecated=true", []),
            ("hand_edited=true", []),
            ("ordering=-popularity", ["openai/gpt-4o-mini", "openai/gpt-4.1", "ollama/llama3"]),
            ("ordering=-input_price,model_id", ["openai/gpt-4.1", "openai/gpt-4o-mini", "ollama/llama3"]),
        ],
    )
    def test_list_filters_and_sorts(self, api, query, ids):
        response = api.get(f"{MODELS}?{query}")
        assert response.status_code == 200
        assert [row["model_id"] for row in response.json()["results"]] == ids

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("provider=nope", "provider"),
            ("plan_tier=gold", "plan_tier"),
            ("enabled=maybe", "enabled"),
            ("ordering=platform_key", "ordering"),
            ("search=gpt", "search"),
            ("page_size=-1", "page_size"),
        ],
    )
    def test_bad_filters_are_400_naming_them(self, api, query, field):
        response = api.get(f"{MODELS}?{query}")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]

    def test_a_staff_edit_is_pinned_against_the_catalog_sync_until_released(self, api, write_json, staff_key):
        feed = litellm_feed()
        catalog_sync(litellm_source=write_json(feed), openrouter_source=None)
        url = f"{MODELS}/anthropic/claude-sonnet-4-5"

        assert Model.objects.get(model_id="anthropic/claude-sonnet-4-5").plan_tier != "starter"
        response = api.patch(url, {"plan_tier": "starter", "input_price": "0.0000025"}, format="json")

        assert response.status_code == 200
        body = response.json()
        assert (body["plan_tier"], body["input_price"], body["input_price_per_million"]) == (
            "starter",
            "0.0000025",
            "2.5",
        )
        assert body["hand_edited_fields"] == ["input_price", "plan_tier"]
        event = _event("model.changed")
        assert event.actor_api_key == staff_key[0]
        assert event.data["changes"]["input_price"] == {"from": "0.000003000000000", "to": "0.000002500000000"}
        assert event.data["changes"]["hand_edited_fields"] == {"from": [], "to": ["input_price", "plan_tier"]}

        feed["claude-sonnet-4-5"].update(input_cost_per_token=4e-06, output_cost_per_token=2e-05)
        catalog_sync(litellm_source=write_json(feed), openrouter_source=None)
        model = Model.objects.get(model_id="anthropic/claude-sonnet-4-5")
        assert (model.plan_tier, model.input_price, model.output_price) == (
            "starter",
            Decimal("0.0000025"),
            Decimal("0.00002"),  # not pinned: the sync updated it
        )

        released = api.patch(url, {"hand_edited_fields": ["plan_tier"]}, format="json")
        assert released.json()["hand_edited_fields"] == ["plan_tier"]
        catalog_sync(litellm_source=write_json(feed), openrouter_source=None)
        model.refresh_from_db()
        assert (model.plan_tier, model.input_price) == ("starter", Decimal("0.000004"))

    def test_every_editable_field_round_trips(self, api):
        changes = {
            "display_name": "GPT 4.1",
            "description": "The big one.",
            "enabled": False,
            "context_window": 1_047_576,
            "max_output_tokens": None,
            "output_price": "0.00001",
            "cache_write_price": "0",
            "price_unknown": True,
            "supports_tools": False,
            "supports_vision": True,
            "supports_json": False,
            "supports_streaming": False,
            "supports_reasoning": True,
            "category": "premium",
            "power_level": "PRECISION",
            "quality_score": "0.9125",
            "default_installed": True,
            "popularity": 7,
            "deprecated_at": "2026-01-31T00:00:00Z",
        }
        response = api.patch(f"{MODELS}/openai/gpt-4.1", changes, format="json")
        assert response.status_code == 200
        body = response.json()
        assert {name: body[name] for name in changes} == {**changes, "cache_write_price": "0"}
        assert response.json() == api.get(f"{MODELS}/openai/gpt-4.1").json()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"input_price": "cheap"}, "input_price"),
            ({"input_price": "-0.000001"}, "input_price"),
            ({"input_price": "0.0000000000000001"}, "input_price"),  # finer than the catalog's 15 places
            ({"input_price": "NaN"}, "input_price"),
            ({"quality_score": "1.5"}, "quality_score"),
            ({"plan_tier": "gold"}, "plan_tier"),
            ({"context_window": 0}, "context_window"),
            ({"context_window": 2**31}, "context_window"),
            ({"popularity": -1}, "popularity"),
            ({"deprecated_at": "yesterday"}, "deprecated_at"),
            ({"hand_edited_fields": ["enabled"]}, "hand_edited_fields"),
            ({"model_id": "openai/gpt-5"}, "model_id"),
            ({}, "non_field_errors"),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_changes_nothing(self, api, body, field):
        before = _state()
        response = api.patch(f"{MODELS}/openai/gpt-4.1", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]
        assert _state() == before

    def test_bulk_actions_enable_disable_and_set_the_tier(self, api, staff, catalog):
        response = api.post(
            BULK,
            {
                "models": ["openai/gpt-4o-mini", "ollama/llama3", "openai/gpt-4o-mini"],
                "enabled": True,
                "plan_tier": "pro",
            },
            format="json",
        )

        assert response.status_code == 200
        assert response.json() == {"updated": 2}
        rows = {m.model_id: m for m in Model.objects.all()}
        assert (rows["ollama/llama3"].enabled, rows["ollama/llama3"].plan_tier) == (True, "pro")
        assert rows["openai/gpt-4o-mini"].plan_tier == "pro"
        assert rows["ollama/llama3"].hand_edited_fields == ["plan_tier"]
        assert rows["openai/gpt-4.1"].updated_at == catalog["large"].updated_at  # not named, not touched
        event = _event("models.bulk_changed")
        assert event.actor == staff
        assert event.data == {
            "changes": {"enabled": True, "plan_tier": "pro"},
            "models": ["ollama/llama3", "openai/gpt-4o-mini"],
            "count": 2,
        }

    @pytest.mark.parametrize(
        ("body", "field", "message"),
        [
            (
                {"models": ["openai/gpt-4o-mini", "openai/gpt-9", "x/y"], "enabled": False},
                "models",
                "Invalid input: models: No model with the id: openai/gpt-9, x/y.",
            ),
            ({"models": [], "enabled": False}, "models", None),
            ({"models": ["m"] * 1001, "enabled": False}, "models", None),
            ({"models": ["openai/gpt-4o-mini"]}, "non_field_errors", None),
            ({"models": ["openai/gpt-4o-mini"], "quality_score": "1"}, "quality_score", None),
            ({"models": ["openai/gpt-4o-mini"], "power_level": "TURBO"}, "power_level", None),
        ],
    )
    def test_bad_bulk_input_is_400_and_changes_nothing(self, api, body, field, message):
        before = _state()
        response = api.post(BULK, body, format="json")
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]
        if message:
            assert response.json()["message"] == message
        assert _state() == before


@pytest.fixture(scope="class")
def shipped_catalog(django_db_setup, django_db_blocker):
    """The full shipped LiteLLM snapshot, loaded once for the class and removed after it."""
    with django_db_blocker.unblock():
        call_command("sync_catalog", "--no-progress", stdout=open("/dev/null", "w"))  # noqa: SIM115
        yield Model.objects.count()
        PriceChange.objects.all().delete()
        ModelAlias.objects.all().delete()
        Model.objects.all().delete()
        Provider.objects.all().delete()


@pytest.mark.slow
class TestFullShippedCatalog:
    def test_pages_walk_the_whole_catalog_once(self, shipped_catalog, api):
        assert shipped_catalog > 3000
        seen: list[str] = []
        url = f"{MODELS}?page_size=200"
        while url:
            body = api.get(url).json()
            assert body["count"] == shipped_catalog
            seen += [row["model_id"] for row in body["results"]]
            url = body["next"]
        assert seen == sorted(seen)
        assert len(seen) == len(set(seen)) == shipped_catalog
        last_page = -(-shipped_catalog // 200)
        beyond = api.get(f"{MODELS}?page_size=200&page={last_page + 1}")
        assert beyond.status_code == 404
        assert beyond.json()["extra"]["code"] == "not_found"

    @pytest.mark.parametrize(
        "ordering", ["-popularity", "input_price", "-input_price", "output_price", "context_window", "-context_window"]
    )
    def test_each_sort_holds_across_pages(self, shipped_catalog, api, ordering):
        field = ordering.lstrip("-")
        rows = []
        for page in (1, 2, 3):
            rows += api.get(f"{MODELS}?ordering={ordering}&page_size=100&page={page}").json()["results"]
        values = [_sort_value(row[field]) for row in rows]
        assert None not in values  # models without the value come last, whichever the direction
        assert values == sorted(values, reverse=ordering.startswith("-"))
        # Ties are broken by id, so a page never repeats a row of another.
        assert len({row["model_id"] for row in rows}) == len(rows) == 300

    def test_filters_match_the_database(self, shipped_catalog, api):
        expectations = {
            "provider=openai": Model.objects.filter(provider__slug="openai").count(),
            "plan_tier=enterprise": Model.objects.filter(plan_tier="enterprise").count(),
            "deprecated=true": Model.objects.filter(deprecated_at__isnull=False).count(),
            "price_unknown=true": Model.objects.filter(price_unknown=True).count(),
            "default_installed=true": 3,
        }
        for query, expected in expectations.items():
            assert api.get(f"{MODELS}?{query}").json()["count"] == expected, query
        assert min(expectations.values()) > 0
        found = api.get(f"{MODELS}?q=claude&page_size=200").json()["results"]
        assert found and all("claude" in (row["model_id"] + row["display_name"]).lower() for row in found)

    def test_a_page_costs_three_queries_whatever_its_size(self, shipped_catalog, api, django_assert_num_queries):
        for size in (10, 200):
            with django_assert_num_queries(3):  # the API key with its member, the count, the page with providers
                assert len(api.get(f"{MODELS}?ordering=-popularity&page_size={size}").json()["results"]) == size
        with django_assert_num_queries(4):  # and the provider named by the filter
            assert api.get(f"{MODELS}?provider=anthropic&page_size=200").status_code == 200

    def test_a_bulk_action_on_the_most_models_one_call_takes(self, shipped_catalog, api):
        ids = list(Model.objects.order_by("model_id").values_list("model_id", flat=True)[:1000])
        response = api.post(BULK, {"models": ids, "power_level": "ECO", "enabled": False}, format="json")
        assert response.json() == {"updated": 1000}
        assert Model.objects.filter(model_id__in=ids, power_level="ECO", enabled=False).count() == 1000
        assert api.get(f"{MODELS}?enabled=false&power_level=ECO").json()["count"] == 1000


def _sort_value(value):
    return Decimal(value) if isinstance(value, str) else value


# Plans and plan gating ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
class TestPlans:
    def test_list_shows_the_gating_rule_and_counts(self, api, plan, workspace, django_assert_num_queries):
        PlanFactory(slug="team", sort_order=99, model_access=ModelAccess.TIERS, allowed_tiers=["starter", "pro"])
        WorkspaceFactory(plan=plan)
        with django_assert_num_queries(2):  # the API key, the plans with their counts
            response = api.get(PLANS)
        assert response.status_code == 200
        rows = {row["slug"]: row for row in response.json()}
        assert list(rows) == ["starter", "pro", "enterprise", "gold", "team"]
        assert rows["gold"] | {"id": 0, "updated_at": ""} == {
            "id": 0,
            "slug": "gold",
            "name": "Gold",
            "sort_order": plan.sort_order,
            "is_default": False,
            "model_access": "default",
            "allowed_tiers": [],
            "allowed_model_count": 1,
            "workspace_count": 1,
            "updated_at": "",
        }
        assert (rows["team"]["allowed_tiers"], rows["team"]["allowed_model_count"]) == (["starter", "pro"], 0)
        for _ in range(4):
            PlanFactory(allowed_models=[ModelFactory(), ModelFactory()])
        with django_assert_num_queries(2):
            assert len(api.get(PLANS).json()) == len(rows) + 4

    def test_changing_the_rule_changes_what_its_workspaces_may_install(self, api, plan, staff, catalog):
        workspace = WorkspaceFactory(plan=plan)
        with pytest.raises(ApplicationError, match=r"does not include openai/gpt-4\.1"):
            model_install(workspace=workspace, model=catalog["large"])

        response = api.patch(
            f"{PLANS}/gold", {"model_access": "tiers", "allowed_tiers": ["pro", "starter"]}, format="json"
        )

        assert response.status_code == 200
        assert (response.json()["model_access"], response.json()["allowed_tiers"]) == ("tiers", ["starter", "pro"])
        workspace.refresh_from_db()
        assert model_install(workspace=workspace, model=catalog["large"]).model == catalog["large"]
        event = _event("plan.changed")
        assert event.actor == staff
        assert event.data == {
            "changes": {
                "model_access": {"from": "default", "to": "tiers"},
                "allowed_tiers": {"from": [], "to": ["starter", "pro"]},
            }
        }

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"model_access": "some"}, "model_access"),
            ({"allowed_tiers": ["gold"]}, "allowed_tiers"),
            ({"allowed_tiers": "pro"}, "allowed_tiers"),
            ({"monthly_price": "0"}, "monthly_price"),
            ({}, "non_field_errors"),
        ],
    )
    def test_bad_gating_input_is_400_naming_the_field(self, api, plan, body, field):
        before = _state()
        response = api.patch(f"{PLANS}/gold", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]
        assert _state() == before

    def test_list_add_and_remove_the_models_a_plan_always_allows(self, api, plan, staff_key):
        listed = api.get(f"{PLANS}/gold/models")
        assert [row["model_id"] for row in listed.json()["results"]] == ["openai/gpt-4o-mini"]

        added = api.post(f"{PLANS}/gold/models", {"models": ["openai/gpt-4o-mini", "ollama/llama3"]}, format="json")

        assert added.status_code == 200
        assert added.json() == {"added": ["ollama/llama3"], "allowed_model_count": 2}
        assert set(plan.allowed_models.values_list("model_id", flat=True)) == {"openai/gpt-4o-mini", "ollama/llama3"}
        assert _event("plan.models_added").data == {"models": ["ollama/llama3"]}

        removed = api.delete(f"{PLANS}/gold/models/openai/gpt-4o-mini")
        assert removed.status_code == 204
        assert list(plan.allowed_models.values_list("model_id", flat=True)) == ["ollama/llama3"]
        event = _event("plan.model_removed")
        assert (event.data, event.actor_api_key) == ({"model": "openai/gpt-4o-mini"}, staff_key[0])

        again = api.delete(f"{PLANS}/gold/models/openai/gpt-4o-mini")
        assert again.status_code == 404
        assert again.json() == {
            "message": "openai/gpt-4o-mini is not listed on the Gold plan.",
            "extra": {"code": "not_found"},
        }

    def test_the_detail_costs_two_queries(self, api, plan, django_assert_num_queries):
        with django_assert_num_queries(2):  # the API key with its member, the plan with its counts
            assert api.get(f"{PLANS}/gold").json()["allowed_model_count"] == 1

    def test_the_plans_model_list_costs_four_queries_however_long(self, api, plan, django_assert_num_queries):
        with django_assert_num_queries(4):  # the API key, the plan, the count, the page with providers
            api.get(f"{PLANS}/gold/models")
        plan.allowed_models.add(*[ModelFactory() for _ in range(8)])
        with django_assert_num_queries(4):
            assert api.get(f"{PLANS}/gold/models").json()["count"] == 9

    def test_unknown_models_are_400_and_unknown_plans_404(self, api, plan):
        before = _state()
        response = api.post(f"{PLANS}/gold/models", {"models": ["openai/gpt-9"]}, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {"models": ["No model with the id: openai/gpt-9."]}
        assert api.get(f"{PLANS}/platinum").status_code == 404
        assert api.patch(f"{PLANS}/platinum", {"model_access": "all"}, format="json").status_code == 404
        assert api.get(f"{PLANS}/platinum/models").status_code == 404
        assert api.post(f"{PLANS}/platinum/models", {"models": ["openai/gpt-4.1"]}, format="json").status_code == 404
        assert api.delete(f"{PLANS}/platinum/models/openai/gpt-4o-mini").status_code == 404
        assert api.delete(f"{PLANS}/gold/models/openai/gpt-9").status_code == 404
        assert _state() == before
