"""/api/catalog through DRF's test client: the model list (filters, search, sorts, pages), a model's detail and the
providers, as a workspace sees them; bad input; query counts; and sorting and paging over the full shipped
catalog."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.catalog.models import Model, Provider
from apps.workspaces.models import ModelAccess
from tests.analytics.factories import ModelHealthFactory
from tests.catalog.factories import (
    ModelAliasFactory,
    ModelFactory,
    PriceChangeFactory,
    ProviderFactory,
    TaskScoreFactory,
)
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory

MODELS = "/api/catalog/models"
PROVIDERS = "/api/catalog/providers"
PER_MILLION = Decimal(1_000_000)


def per_token(per_million: str) -> Decimal:
    return Decimal(per_million) / PER_MILLION


@pytest.fixture
def plan():
    """Starter-tier models, plus whatever is added to `allowed_models`."""
    return PlanFactory(slug="team", name="Team", model_access=ModelAccess.TIERS, allowed_tiers=["starter"])


@pytest.fixture
def workspace(plan):
    return WorkspaceFactory(slug="acme", plan=plan)


@pytest.fixture
def client(workspace) -> APIClient:
    member = MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user
    client = APIClient()
    client.force_login(member)
    return client


def bearer(workspace) -> APIClient:
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def assert_bad_input(response, field: str, message: str | None = None) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["extra"]["code"] == "invalid"
    assert list(body["extra"]["fields"]) == [field]
    assert body["message"].startswith(f"Invalid input: {field}: ")
    if message is not None:
        assert body["extra"]["fields"][field] == [message]


@pytest.mark.django_db
class TestModelList:
    def test_an_item_has_prices_per_1m_and_per_token_and_the_workspace_view(self, client, workspace):
        openai = ProviderFactory(slug="openai", name="OpenAI")
        model = ModelFactory(
            provider=openai,
            upstream_name="gpt-4o-mini",
            display_name="GPT-4o mini",
            input_price=per_token("0.15"),
            output_price=per_token("0.60"),
            cache_read_price=per_token("0.075"),
            context_window=128_000,
            max_output_tokens=16_384,
            supports_vision=True,
            category="fast-cheap",
            power_level="ECO",
            plan_tier="starter",
            quality_score=Decimal("0.6125"),
            popularity=7,
            source_created_at=datetime.datetime(2024, 7, 18, tzinfo=datetime.UTC),
        )
        InstalledModelFactory(workspace=workspace, model=model)

        body = client.get(MODELS).json()

        assert (body["count"], body["next"], body["previous"]) == (1, None, None)
        assert body["results"] == [
            {
                "id": "openai/gpt-4o-mini",
                "name": "GPT-4o mini",
                "provider": {"slug": "openai", "name": "OpenAI", "enabled": True},
                "mode": "chat",
                "context_window": 128000,
                "max_output_tokens": 16384,
                "pricing": {
                    "input_per_million": "0.15",
                    "output_per_million": "0.6",
                    "cache_read_per_million": "0.075",
                    "cache_write_per_million": None,
                    "blended_per_million": "0.4875",
                    "input_per_token": "0.00000015",
                    "output_per_token": "0.0000006",
                    "cache_read_per_token": "0.000000075",
                    "cache_write_per_token": None,
                    "unknown": False,
                },
                "capabilities": {"tools": True, "vision": True, "json": True, "streaming": True, "reasoning": False},
                "category": "fast-cheap",
                "power_level": "ECO",
                "plan_tier": "starter",
                "quality_score": 0.6125,
                "popularity": 7,
                "released_at": "2024-07-18T00:00:00Z",
                "deprecated": False,
                "deprecated_at": None,
                "installed": True,
                "available_on_plan": True,
            }
        ]

    def test_models_staff_disabled_are_hidden_and_deprecated_ones_flagged(self, client):
        ModelFactory(model_id="p/live")
        ModelFactory(model_id="p/off", enabled=False)
        gone = ModelFactory(model_id="p/gone", deprecated_at=timezone.now())

        assert sorted(ids(client.get(MODELS))) == ["p/gone", "p/live"]
        assert ids(client.get(MODELS, {"deprecated": "true"})) == ["p/gone"]
        assert ids(client.get(MODELS, {"deprecated": "false"})) == ["p/live"]
        [item] = client.get(MODELS, {"deprecated": "true"}).json()["results"]
        assert item["deprecated"] is True
        assert item["deprecated_at"] == gone.deprecated_at.isoformat().replace("+00:00", "Z")

    def test_an_unknown_price_is_null_never_zero(self, client):
        ModelFactory(model_id="p/mystery", input_price=None, output_price=None, price_unknown=True)
        [item] = client.get(MODELS).json()["results"]
        assert item["pricing"]["unknown"] is True
        assert item["pricing"]["input_per_million"] is None
        assert item["pricing"]["blended_per_million"] is None

    def test_without_credentials_401(self):
        response = APIClient().get(MODELS)
        assert response.status_code == 401
        assert response.json()["extra"] == {"code": "not_authenticated"}


@pytest.mark.django_db
class TestModelFilters:
    def test_provider_one_or_several_and_an_unknown_one_is_bad_input(self, client):
        for slug in ("openai", "anthropic", "groq"):
            ModelFactory(provider=ProviderFactory(slug=slug), model_id=f"{slug}/m")

        assert ids(client.get(MODELS, {"provider": "openai"})) == ["openai/m"]
        assert sorted(ids(client.get(MODELS, {"provider": "openai,groq"}))) == ["groq/m", "openai/m"]
        assert_bad_input(client.get(MODELS, {"provider": "openai,nope"}), "provider", "No provider 'nope'.")

    def test_empty_list_items_are_skipped(self, client):
        ModelFactory(provider=ProviderFactory(slug="openai"), model_id="openai/m", category="coding")
        ModelFactory(provider=ProviderFactory(slug="groq"), model_id="groq/m", category="premium")
        assert ids(client.get(MODELS, {"provider": ",openai,"})) == ["openai/m"]
        assert ids(client.get(MODELS, {"category": "coding,,"})) == ["openai/m"]
        assert sorted(ids(client.get(MODELS, {"capabilities": ",", "provider": ""}))) == ["groq/m", "openai/m"]

    @pytest.mark.parametrize(
        ("field", "values", "query", "expected"),
        [
            ("category", ["coding", "premium", "creative"], "coding,creative", ["m0", "m2"]),
            ("power_level", ["ECO", "BALANCED", "PRECISION"], "PRECISION", ["m2"]),
            ("plan_tier", ["starter", "pro", "enterprise"], "starter,pro", ["m0", "m1"]),
        ],
    )
    def test_choice_lists(self, client, field, values, query, expected):
        for position, value in enumerate(values):
            ModelFactory(model_id=f"m{position}", **{field: value})
        assert sorted(ids(client.get(MODELS, {field: query}))) == expected

    def test_capabilities_must_all_be_there(self, client):
        ModelFactory(model_id="tools-only", supports_tools=True, supports_vision=False, supports_reasoning=False)
        ModelFactory(model_id="tools-vision", supports_tools=True, supports_vision=True, supports_reasoning=False)
        ModelFactory(model_id="all", supports_tools=True, supports_vision=True, supports_reasoning=True)
        ModelFactory(model_id="no-stream", supports_streaming=False, supports_json=False)

        assert sorted(ids(client.get(MODELS, {"capabilities": "vision"}))) == ["all", "tools-vision"]
        assert ids(client.get(MODELS, {"capabilities": "tools,vision,reasoning"})) == ["all"]
        assert "no-stream" not in ids(client.get(MODELS, {"capabilities": "streaming"}))
        assert "no-stream" not in ids(client.get(MODELS, {"capabilities": "json"}))

    def test_price_ranges_are_per_1m_inclusive_and_skip_unknown_prices(self, client):
        ModelFactory(model_id="cheap", input_price=per_token("0.15"), output_price=per_token("0.60"))
        ModelFactory(model_id="mid", input_price=per_token("3"), output_price=per_token("15"))
        ModelFactory(model_id="dear", input_price=per_token("15"), output_price=per_token("75"))
        ModelFactory(model_id="mystery", input_price=None, output_price=None, price_unknown=True)

        assert ids(client.get(MODELS, {"input_price_max": "0.15"})) == ["cheap"]
        assert sorted(ids(client.get(MODELS, {"input_price_min": "0.15", "input_price_max": "3"}))) == [
            "cheap",
            "mid",
        ]
        assert sorted(ids(client.get(MODELS, {"output_price_min": "15"}))) == ["dear", "mid"]
        assert ids(client.get(MODELS, {"output_price_max": "14.99"})) == ["cheap"]
        assert "mystery" not in ids(client.get(MODELS, {"input_price_min": "0"}))

    def test_context_window_range(self, client):
        ModelFactory(model_id="small", context_window=8_192)
        ModelFactory(model_id="big", context_window=200_000)
        ModelFactory(model_id="unknown", context_window=None)
        assert ids(client.get(MODELS, {"context_min": "100000"})) == ["big"]
        assert ids(client.get(MODELS, {"context_max": "8192"})) == ["small"]

    def test_available_on_my_plan(self, client, plan):
        ModelFactory(model_id="starter-tier", plan_tier="starter")
        ModelFactory(model_id="pro-tier", plan_tier="pro")
        plan.allowed_models.add(ModelFactory(model_id="granted", plan_tier="enterprise"))

        assert sorted(ids(client.get(MODELS, {"available": "true"}))) == ["granted", "starter-tier"]
        assert ids(client.get(MODELS, {"available": "false"})) == ["pro-tier"]
        flags = {item["id"]: item["available_on_plan"] for item in client.get(MODELS).json()["results"]}
        assert flags == {"starter-tier": True, "granted": True, "pro-tier": False}

    def test_a_plan_with_every_model_allows_all(self, client, plan):
        plan.model_access = ModelAccess.ALL
        plan.save()
        ModelFactory(model_id="any", plan_tier="enterprise")
        assert ids(client.get(MODELS, {"available": "true"})) == ["any"]

    def test_installed_means_in_my_workspace_not_anothers(self, client, workspace):
        mine = ModelFactory(model_id="mine")
        theirs = ModelFactory(model_id="theirs")
        InstalledModelFactory(workspace=workspace, model=mine)
        InstalledModelFactory(workspace=WorkspaceFactory(), model=theirs)

        assert ids(client.get(MODELS, {"installed": "true"})) == ["mine"]
        assert ids(client.get(MODELS, {"installed": "false"})) == ["theirs"]

    def test_a_key_of_another_workspace_sees_that_workspaces_installs(self, workspace):
        other = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        model = ModelFactory(model_id="shared", plan_tier="pro")
        InstalledModelFactory(workspace=other, model=model)

        [item] = bearer(other).get(MODELS).json()["results"]
        assert (item["installed"], item["available_on_plan"]) == (True, True)
        [item] = bearer(workspace).get(MODELS).json()["results"]
        assert (item["installed"], item["available_on_plan"]) == (False, False)

    def test_provider_enabled(self, client):
        ModelFactory(provider=ProviderFactory(slug="on"), model_id="on/m")
        ModelFactory(provider=ProviderFactory(slug="off", enabled=False), model_id="off/m")
        assert ids(client.get(MODELS, {"provider_enabled": "true"})) == ["on/m"]
        assert ids(client.get(MODELS, {"provider_enabled": "false"})) == ["off/m"]

    def test_search_by_id_name_or_alias_in_any_case(self, client):
        ModelFactory(model_id="anthropic/claude-sonnet-4-5", display_name="Claude Sonnet 4.5")
        ModelFactory(model_id="openai/gpt-4o", display_name="GPT-4o")
        ModelAliasFactory(alias="sonnet-latest", model=ModelFactory(model_id="vendor/x1", display_name="X1"))

        assert ids(client.get(MODELS, {"search": "CLAUDE"})) == ["anthropic/claude-sonnet-4-5"]
        assert ids(client.get(MODELS, {"search": "gpt-4"})) == ["openai/gpt-4o"]
        assert sorted(ids(client.get(MODELS, {"search": "sonnet"}))) == ["anthropic/claude-sonnet-4-5", "vendor/x1"]
        assert ids(client.get(MODELS, {"search": "nothing-like-it"})) == []

    def test_filters_combine(self, client):
        ModelFactory(model_id="a", category="coding", supports_vision=True, context_window=200_000)
        ModelFactory(model_id="b", category="coding", supports_vision=False, context_window=200_000)
        ModelFactory(model_id="c", category="premium", supports_vision=True, context_window=200_000)
        query = {"category": "coding", "capabilities": "vision", "context_min": "100000"}
        assert ids(client.get(MODELS, query)) == ["a"]


@pytest.mark.django_db
class TestModelListBadInput:
    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ({"colour": "red"}, "colour", None),
            ({"input_price_max": "cheap"}, "input_price_max", "Enter a number."),
            ({"output_price_min": "NaN"}, "output_price_min", "Enter a number."),
            ({"input_price_min": "-1"}, "input_price_min", "Ensure this value is greater than or equal to 0."),
            ({"input_price_max": "1e400"}, "input_price_max", None),
            ({"context_min": "1.5"}, "context_min", "Enter a whole number."),
            ({"context_max": "99999999999"}, "context_max", None),
            ({"installed": "maybe"}, "installed", "Use true or false."),
            ({"deprecated": "yes"}, "deprecated", "Use true or false."),
            ({"category": "coding,cheap"}, "category", None),
            ({"power_level": "eco"}, "power_level", None),
            ({"capabilities": "telepathy"}, "capabilities", None),
            ({"sort": "cheapest"}, "sort", None),
            ({"search": "a\x00b"}, "search", "Null characters are not allowed."),
            ({"provider": "not a slug"}, "provider", None),
            ({"page": "0"}, "page", None),
            ({"page": "two"}, "page", "A valid integer is required."),
            ({"page_size": "201"}, "page_size", "Ensure this value is less than or equal to 200."),
        ],
    )
    def test_is_400_naming_the_field(self, client, query, field, message):
        ModelFactory()
        assert_bad_input(client.get(MODELS, query), field, message)

    def test_an_unknown_parameter_lists_the_known_ones(self, client):
        body = client.get(MODELS, {"categroy": "coding"}).json()
        [message] = body["extra"]["fields"]["categroy"]
        assert message.startswith("Unknown parameter; the parameters are: available, capabilities, category,")
        assert "page_size" in message and "sort" in message

    def test_a_page_past_the_end_is_404(self, client):
        ModelFactory()
        response = client.get(MODELS, {"page": "2"})
        assert response.status_code == 404
        assert response.json() == {"message": "Invalid page.", "extra": {"code": "not_found"}}


@pytest.mark.django_db
class TestModelSorts:
    @pytest.fixture
    def models(self):
        day = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        ModelFactory(
            model_id="b-cheap",
            display_name="Beta",
            input_price=per_token("1"),
            output_price=per_token("1"),
            context_window=8_000,
            popularity=5,
            quality_score=Decimal("0.6"),
            source_created_at=day,
        )
        ModelFactory(
            model_id="a-cheap-twin",  # same blended price as b-cheap: the id breaks the tie
            display_name="Alpha",
            input_price=per_token("0.25"),
            output_price=per_token("1.25"),
            context_window=None,
            popularity=5,
            quality_score=Decimal("0.7"),
            source_created_at=day + datetime.timedelta(days=30),
        )
        ModelFactory(
            model_id="c-dear",
            display_name="Gamma",
            input_price=per_token("10"),
            output_price=per_token("30"),
            context_window=1_000_000,
            popularity=50,
            quality_score=Decimal("0.9"),
            source_created_at=None,
        )
        ModelFactory(
            model_id="d-unknown",
            display_name="Delta",
            input_price=None,
            output_price=None,
            price_unknown=True,
            context_window=32_000,
            popularity=0,
            quality_score=Decimal("0.5"),
            source_created_at=day - datetime.timedelta(days=400),
        )

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            (None, ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]),
            ("-popularity", ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]),
            ("popularity", ["d-unknown", "a-cheap-twin", "b-cheap", "c-dear"]),
            ("price", ["a-cheap-twin", "b-cheap", "c-dear", "d-unknown"]),
            ("-price", ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]),
            ("input_price", ["a-cheap-twin", "b-cheap", "c-dear", "d-unknown"]),
            ("-output_price", ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]),
            ("context", ["b-cheap", "d-unknown", "c-dear", "a-cheap-twin"]),
            ("-context", ["c-dear", "d-unknown", "b-cheap", "a-cheap-twin"]),
            ("-quality", ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]),
            ("name", ["a-cheap-twin", "b-cheap", "d-unknown", "c-dear"]),
            ("-name", ["c-dear", "d-unknown", "b-cheap", "a-cheap-twin"]),
        ],
    )
    def test_sort(self, client, models, sort, expected):
        assert ids(client.get(MODELS, {"sort": sort} if sort else {})) == expected

    def test_newest_uses_the_release_date_else_the_date_added(self, client, models):
        # c-dear has no release date: it counts from when it was added to the catalog (now), so it is newest.
        assert ids(client.get(MODELS, {"sort": "newest"})) == ["c-dear", "a-cheap-twin", "b-cheap", "d-unknown"]
        assert ids(client.get(MODELS, {"sort": "oldest"})) == ["d-unknown", "b-cheap", "a-cheap-twin", "c-dear"]

    def test_pages_follow_the_sort(self, client, models):
        first = client.get(MODELS, {"sort": "price", "page_size": "3"}).json()
        assert [item["id"] for item in first["results"]] == ["a-cheap-twin", "b-cheap", "c-dear"]
        assert first["count"] == 4 and first["previous"] is None
        assert "page=2" in first["next"] and "sort=price" in first["next"]
        second = client.get(first["next"]).json()
        assert [item["id"] for item in second["results"]] == ["d-unknown"]
        assert second["next"] is None


@pytest.mark.django_db
class TestModelDetail:
    def test_everything_known_about_a_model(self, client, workspace):
        openai = ProviderFactory(slug="openai", name="OpenAI")
        model = ModelFactory(
            provider=openai,
            upstream_name="gpt-4o",
            description="Omni.",
            input_price=per_token("2.5"),
            output_price=per_token("10"),
            category="balanced",
            pricing_extra={"input_cost_per_token_above_128k_tokens": "0.000005"},
        )
        ModelAliasFactory(alias="gpt-4o-latest", model=model)
        ModelAliasFactory(alias="4o", model=model)
        older = PriceChangeFactory(
            model=model,
            old_input_price=per_token("5"),
            new_input_price=per_token("2.5"),
            old_output_price=per_token("15"),
            new_output_price=per_token("10"),
        )
        newer = PriceChangeFactory(model=model, old_input_price=per_token("2.5"), new_input_price=per_token("2.5"))
        PriceChangeFactory(model=ModelFactory())  # another model's history stays out
        TaskScoreFactory(model=model, task="code", score=Decimal("0.7"), source="benchmark")
        TaskScoreFactory(model=model, task="code", score=Decimal("0.9"), source="manual")  # staff edits win
        TaskScoreFactory(model=model, task="math", score=Decimal("0.6"), source="import")
        ModelHealthFactory(
            model=model,
            requests=40,
            successes=38,
            error_rate=Decimal("0.05"),
            latency_p50_ms=420,
            latency_p95_ms=900,
            ttft_p50_ms=180,
            circuit_state="closed",
        )
        InstalledModelFactory(workspace=workspace, model=model)

        response = client.get(f"{MODELS}/openai/gpt-4o")

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["id"], body["description"], body["installed"]) == ("openai/gpt-4o", "Omni.", True)
        assert body["pricing"]["input_per_million"] == "2.5"
        assert body["aliases"] == ["4o", "gpt-4o-latest"]
        assert body["pricing_extra"] == {"input_cost_per_token_above_128k_tokens": "0.000005"}
        assert body["task_quality"] == {"code": 0.9, "math": 0.6}
        assert body["health"] == {
            "circuit_state": "closed",
            "window_seconds": 300,
            "requests": 40,
            "error_rate": 0.05,
            "latency_p50_ms": 420,
            "latency_p95_ms": 900,
            "ttft_p50_ms": 180,
            "updated_at": body["health"]["updated_at"],
        }
        history = body["price_history"]
        assert len(history) == 2
        assert history[0]["changed_at"] >= history[1]["changed_at"]
        assert {h["changed_at"] for h in history} == {
            c.changed_at.isoformat().replace("+00:00", "Z") for c in (older, newer)
        }
        oldest = history[1] if history[1]["old_input_per_million"] == "5" else history[0]
        assert {k: v for k, v in oldest.items() if k.endswith("_per_million")} == {
            "old_input_per_million": "5",
            "new_input_per_million": "2.5",
            "old_output_per_million": "15",
            "new_output_per_million": "10",
            "old_cache_read_per_million": None,
            "new_cache_read_per_million": None,
            "old_cache_write_per_million": None,
            "new_cache_write_per_million": None,
        }
        assert oldest["source"] == "litellm"

    def test_an_alias_finds_the_model(self, client):
        ModelAliasFactory(alias="sonnet", model=ModelFactory(model_id="anthropic/claude-sonnet-4-5"))
        response = client.get(f"{MODELS}/sonnet")
        assert response.status_code == 200
        assert response.json()["id"] == "anthropic/claude-sonnet-4-5"

    def test_no_health_before_any_traffic(self, client):
        ModelFactory(model_id="quiet/model")
        body = client.get(f"{MODELS}/quiet/model").json()
        assert body["health"] is None
        assert (body["aliases"], body["price_history"], body["task_quality"]) == ([], [], {})

    def test_similar_models_are_current_same_category_closest_in_price(self, client):
        def make(model_id, input_per_million, **kwargs):
            price = per_token(input_per_million)
            kwargs.setdefault("category", "coding")
            return ModelFactory(model_id=model_id, input_price=price, output_price=price, **kwargs)

        make("target", "3")
        make("near-above", "4")
        make("near-below", "2.5")
        make("far", "30")
        make("farther", "60")
        make("farthest", "100")
        make("furthest", "200")
        make("gone", "3", deprecated_at=timezone.now())
        make("other-category", "3", category="premium")
        make("disabled", "3", enabled=False)
        ModelFactory(model_id="no-price", category="coding", input_price=None, output_price=None, price_unknown=True)

        similar = [item["id"] for item in client.get(f"{MODELS}/target").json()["similar"]]
        assert similar == ["near-below", "near-above", "far", "farther", "farthest"]

    def test_similar_to_a_model_of_unknown_price_are_the_most_popular(self, client):
        ModelFactory(model_id="mystery", input_price=None, output_price=None, price_unknown=True, category="creative")
        ModelFactory(model_id="liked", category="creative", popularity=9)
        ModelFactory(model_id="ignored", category="creative", popularity=1)
        similar = [item["id"] for item in client.get(f"{MODELS}/mystery").json()["similar"]]
        assert similar == ["liked", "ignored"]

    def test_installed_and_available_are_the_callers(self, client, workspace):
        model = ModelFactory(model_id="p/shared", plan_tier="pro")
        other = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        InstalledModelFactory(workspace=other, model=model)

        mine = client.get(f"{MODELS}/p/shared").json()
        assert (mine["installed"], mine["available_on_plan"]) == (False, False)
        theirs = bearer(other).get(f"{MODELS}/p/shared").json()
        assert (theirs["installed"], theirs["available_on_plan"]) == (True, True)

    @pytest.mark.parametrize("model_id", ["nope/nothing", "p/off", "a%00b"])
    def test_unknown_or_disabled_is_404(self, client, model_id):
        ModelFactory(model_id="p/off", enabled=False)
        response = client.get(f"{MODELS}/{model_id}")
        assert response.status_code == 404
        body = response.json()
        assert body["extra"] == {"code": "not_found"}
        assert body["message"].startswith("No model '")

    def test_query_parameters_are_refused(self, client):
        ModelFactory(model_id="p/m")
        response = client.get(f"{MODELS}/p/m", {"verbose": "1"})
        assert_bad_input(response, "verbose", "Unknown parameter; this endpoint takes none.")


@pytest.mark.django_db
class TestProviders:
    def test_counts_and_status(self, client, workspace):
        openai = ProviderFactory(slug="openai", name="OpenAI", privacy_class="standard")
        ollama = ProviderFactory(slug="ollama", name="Ollama", privacy_class="local", enabled=False)
        installed = ModelFactory(provider=openai)
        ModelFactory(provider=openai)
        ModelFactory(provider=openai, deprecated_at=timezone.now())
        ModelFactory(provider=openai, enabled=False)
        ModelFactory(provider=ollama)
        InstalledModelFactory(workspace=workspace, model=installed)
        InstalledModelFactory(workspace=WorkspaceFactory(), model=installed)  # another workspace's: not counted

        body = client.get(PROVIDERS).json()

        assert body["count"] == 2
        first, second = body["results"]
        assert first == {
            "slug": "openai",
            "name": "OpenAI",
            "enabled": True,
            "adapter_kind": "openai",
            "privacy_class": "standard",
            "model_count": 3,
            "deprecated_model_count": 1,
            "installed_model_count": 1,
            "health": {
                "status": "unknown",
                "requests": 0,
                "error_rate": None,
                "models_reporting": 0,
                "open_circuits": 0,
                "updated_at": None,
            },
        }
        assert (second["slug"], second["enabled"], second["privacy_class"]) == ("ollama", False, "local")
        assert (second["model_count"], second["installed_model_count"]) == (1, 0)

    @pytest.mark.parametrize(
        ("rows", "status", "error_rate"),
        [
            ([(100, "0.01", "closed"), (50, "0.04", "closed")], "operational", 0.02),
            ([(100, "0.3", "closed"), (100, "0.1", "closed")], "degraded", 0.2),
            ([(4, "0.5", "closed")], "operational", 0.5),  # too few requests to judge
            ([(100, "0", "closed"), (0, "0", "half_open")], "degraded", 0.0),
            ([(0, "0", "open"), (0, "0", "open"), (0, "0", "closed")], "down", None),
            ([(0, "0", "closed")], "unknown", None),
        ],
    )
    def test_health(self, client, rows, status, error_rate):
        provider = ProviderFactory(slug="vendor")
        for requests, rate, state in rows:
            ModelHealthFactory(
                model=ModelFactory(provider=provider), requests=requests, error_rate=Decimal(rate), circuit_state=state
            )
        [item] = client.get(PROVIDERS).json()["results"]
        health = item["health"]
        assert (health["status"], health["error_rate"]) == (status, error_rate)
        assert health["requests"] == sum(r[0] for r in rows)
        assert health["open_circuits"] == sum(r[2] == "open" for r in rows)
        assert (health["updated_at"] is None) == (not rows)

    def test_enabled_first_then_by_name_and_filters(self, client):
        ProviderFactory(slug="zeta", name="Zeta")
        ProviderFactory(slug="alpha", name="Alpha", enabled=False)
        ProviderFactory(slug="beta", name="Beta")

        assert [p["slug"] for p in client.get(PROVIDERS).json()["results"]] == ["beta", "zeta", "alpha"]
        assert [p["slug"] for p in client.get(PROVIDERS, {"enabled": "false"}).json()["results"]] == ["alpha"]
        assert [p["slug"] for p in client.get(PROVIDERS, {"search": "ZET"}).json()["results"]] == ["zeta"]

    @pytest.mark.parametrize(
        ("query", "field"),
        [({"enabled": "sometimes"}, "enabled"), ({"status": "up"}, "status"), ({"page": "-1"}, "page")],
    )
    def test_bad_input(self, client, query, field):
        assert_bad_input(client.get(PROVIDERS, query), field)


@pytest.mark.django_db
class TestQueryCounts:
    """Pinned: a page costs the same queries whatever its size (no query per model or provider)."""

    AUTH = 3  # session, user, the member's workspace (with its plan)
    KEY_AUTH = 1  # the API key, with its workspace and plan

    @pytest.fixture
    def catalog(self, workspace):
        for number in range(30):
            model = ModelFactory(provider=ProviderFactory(slug=f"p{number % 6}"), popularity=number)
            ModelAliasFactory(model=model)
            ModelHealthFactory(model=model, requests=10)
            if number % 3 == 0:
                InstalledModelFactory(workspace=workspace, model=model)

    def test_model_list(self, client, catalog, django_assert_num_queries):
        with django_assert_num_queries(self.AUTH + 2):  # count, page
            response = client.get(MODELS, {"page_size": "30", "capabilities": "tools", "available": "false"})
        assert response.json()["count"] == 30
        with django_assert_num_queries(self.AUTH + 3):  # one more to check the provider slug exists
            client.get(MODELS, {"provider": "p1", "search": "model", "sort": "price"})

    def test_model_list_with_an_api_key(self, workspace, catalog, django_assert_num_queries):
        as_key = bearer(workspace)
        with django_assert_num_queries(self.KEY_AUTH + 2):  # count, page
            response = as_key.get(MODELS, {"page_size": "30"})
        assert len(response.json()["results"]) == 30

    def test_model_detail(self, client, catalog, django_assert_num_queries):
        model = Model.objects.order_by("pk").first()
        TaskScoreFactory(model=model)
        PriceChangeFactory(model=model)
        # model, aliases, price history, task scores, similar
        with django_assert_num_queries(self.AUTH + 5):
            response = client.get(f"{MODELS}/{model.model_id}")
        assert response.status_code == 200
        assert len(response.json()["similar"]) == 5

    def test_provider_list(self, client, catalog, django_assert_num_queries):
        with django_assert_num_queries(self.AUTH + 2):  # count, page
            response = client.get(PROVIDERS)
        assert response.json()["count"] == 6


@pytest.fixture(scope="class")
def full_catalog(django_db_setup, django_db_blocker):
    """The full shipped LiteLLM snapshot, loaded once for the class (a few seconds) and committed, so it is removed
    by hand afterwards."""
    with django_db_blocker.unblock():
        call_command("sync_catalog", "--no-progress", stdout=io.StringIO())
        yield Model.objects.filter(enabled=True).count()
        Model.objects.all().delete()
        Provider.objects.all().delete()


def _walk(client, query: dict) -> list[dict]:
    """Every page of the list, at the largest page size."""
    items, page = [], 1
    while True:
        response = client.get(MODELS, {**query, "page_size": "200", "page": str(page)})
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["results"]
        if body["next"] is None:
            return items
        page += 1


def _nulls_last(value):
    return (value is None, value)


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.usefixtures("full_catalog")
class TestFullShippedCatalog:
    @pytest.mark.parametrize(
        ("sort", "key"),
        [
            (None, lambda item: (-item["popularity"], item["id"])),
            ("price", lambda item: (*_nulls_last(_decimal(item["pricing"]["blended_per_million"])), item["id"])),
            ("-context", lambda item: (item["context_window"] is None, -(item["context_window"] or 0), item["id"])),
            ("name", lambda item: (item["name"], item["id"])),
        ],
    )
    def test_every_page_in_order_without_gaps_or_repeats(self, client, full_catalog, sort, key):
        items = _walk(client, {"sort": sort} if sort else {})
        listed = [item["id"] for item in items]
        assert len(listed) == full_catalog > 3000
        assert len(set(listed)) == len(listed)
        assert listed == [item["id"] for item in sorted(items, key=key)]

    def test_newest_is_by_release_else_date_added(self, client, full_catalog):
        items = _walk(client, {"sort": "newest"})
        released = [item["released_at"] for item in items]
        assert released == sorted(released, reverse=True)
        assert len(items) == full_catalog

    def test_filters_agree_with_the_data(self, client, full_catalog):
        cheap = _walk(client, {"input_price_max": "0.5", "capabilities": "tools,vision", "context_min": "128000"})
        assert cheap
        for item in cheap:
            assert Decimal(item["pricing"]["input_per_million"]) <= Decimal("0.5")
            assert item["capabilities"]["tools"] and item["capabilities"]["vision"]
            assert item["context_window"] >= 128_000
        expected = Model.objects.filter(
            enabled=True,
            price_unknown=False,
            input_price__lte=Decimal("0.0000005"),
            supports_tools=True,
            supports_vision=True,
            context_window__gte=128_000,
        ).count()
        assert len(cheap) == expected

        anthropic = _walk(client, {"provider": "anthropic", "deprecated": "false"})
        assert (
            len(anthropic)
            == Model.objects.filter(enabled=True, provider__slug="anthropic", deprecated_at__isnull=True).count()
        )
        assert {item["provider"]["slug"] for item in anthropic} == {"anthropic"}

    def test_query_counts_do_not_grow_with_the_catalog(self, client, full_catalog, django_assert_num_queries):
        with django_assert_num_queries(TestQueryCounts.AUTH + 2):
            response = client.get(MODELS, {"page_size": "200", "sort": "-price"})
        assert len(response.json()["results"]) == 200
        with django_assert_num_queries(TestQueryCounts.AUTH + 5):
            response = client.get(f"{MODELS}/anthropic/claude-sonnet-4-5")
        assert response.status_code == 200, response.content
        assert len(response.json()["similar"]) == 5
        with django_assert_num_queries(TestQueryCounts.AUTH + 2):
            response = client.get(PROVIDERS, {"page_size": "200"})
        assert response.json()["count"] == Provider.objects.count() > 50


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
