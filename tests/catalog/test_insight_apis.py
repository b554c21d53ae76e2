"""/api/catalog/compare, /estimate and /recommend through DRF's test client: figures worked out by hand on a small
catalog, bad input, the caller's workspace and plan, pinned query counts, and the full shipped catalog."""

import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.analytics.models import ModelHealth
from apps.catalog.models import Model, ModelAlias, Provider
from tests.catalog.factories import ModelAliasFactory, ModelFactory, ProviderFactory, TaskScoreFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

COMPARE = "/api/catalog/compare"
ESTIMATE = "/api/catalog/estimate"
RECOMMEND = "/api/catalog/recommend"
M = Decimal("0.000001")  # $1 per 1M tokens, as a price per token


def per_million(dollars: str) -> Decimal:
    return Decimal(dollars) * M


@pytest.fixture
def plans() -> dict:
    """Offered in this order, before the seeded plans (sort order 10 and up)."""
    return {
        "basic": PlanFactory(slug="basic", name="Basic", sort_order=1, model_access="default"),
        "plus": PlanFactory(
            slug="plus", name="Plus", sort_order=2, model_access="tiers", allowed_tiers=["starter", "pro"]
        ),
        "max": PlanFactory(slug="max", name="Max", sort_order=3, model_access="all"),
    }


@pytest.fixture
def workspace(plans):
    return WorkspaceFactory(slug="acme", plan=plans["plus"])


@pytest.fixture
def client(workspace) -> APIClient:
    client = APIClient()
    client.force_login(MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user)
    return client


@pytest.fixture
def catalog() -> dict[str, Model]:
    """Four callable models, and three the marketplace can show but the router never picks."""
    acme = ProviderFactory(slug="acme", name="Acme AI")
    globex = ProviderFactory(slug="globex", name="Globex")
    common = {"supports_tools": False, "supports_json": False}
    return {
        "mini": ModelFactory(
            provider=acme,
            upstream_name="mini",
            display_name="Mini",
            input_price=per_million("0.15"),
            output_price=per_million("0.60"),
            cache_read_price=per_million("0.075"),
            context_window=128_000,
            max_output_tokens=16_384,
            supports_tools=True,
            supports_json=True,
            power_level="ECO",
            plan_tier="starter",
            quality_score=Decimal("0.55"),
        ),
        "big": ModelFactory(
            provider=acme,
            upstream_name="big",
            display_name="Big",
            input_price=per_million("3"),
            output_price=per_million("15"),
            cache_read_price=per_million("0.30"),
            cache_write_price=per_million("3.75"),
            context_window=200_000,
            max_output_tokens=64_000,
            supports_tools=True,
            supports_vision=True,
            supports_json=False,
            supports_reasoning=True,
            power_level="PRECISION",
            plan_tier="enterprise",
            quality_score=Decimal("0.85"),
        ),
        "mid": ModelFactory(
            provider=globex,
            upstream_name="mid",
            input_price=per_million("1"),
            output_price=per_million("4"),
            context_window=32_000,
            max_output_tokens=8_192,
            power_level="BALANCED",
            plan_tier="pro",
            quality_score=Decimal("0.70"),
            **common,
        ),
        "coder": ModelFactory(
            provider=globex,
            upstream_name="coder",
            input_price=per_million("0.50"),
            output_price=per_million("1.50"),
            context_window=64_000,
            power_level="BALANCED",
            plan_tier="pro",
            category="coding",
            quality_score=Decimal("0.60"),
            **common,
        ),
        "mystery": ModelFactory(
            provider=globex,
            upstream_name="mystery",
            input_price=None,
            output_price=None,
            price_unknown=True,
            plan_tier="starter",
        ),
        "old": ModelFactory(
            provider=acme, upstream_name="old", plan_tier="starter", deprecated_at="2024-06-13T00:00:00Z"
        ),
        "hidden": ModelFactory(
            provider=ProviderFactory(slug="off", enabled=False), upstream_name="hidden", plan_tier="starter"
        ),
    }


def ids(items: list[dict], key: str = "model") -> list[str]:
    return [item[key] for item in items]


class TestCompare:
    def test_side_by_side_specs_prices_and_workload_costs(self, client, catalog):
        big = catalog["big"]
        TaskScoreFactory(model=big, task="code", score=Decimal("0.91"), source="benchmark")
        ModelHealth.objects.create(model=big, requests=40, successes=40, latency_p50_ms=900, latency_p95_ms=2100)

        response = client.get(COMPARE, {"models": "acme/big, acme/mini,globex/mid"})

        assert response.status_code == 200
        body = response.json()
        assert ids(body["models"], "id") == ["acme/big", "acme/mini", "globex/mid"]
        first = body["models"][0]
        assert first["display_name"] == "Big"
        assert first["provider"] == {"slug": "acme", "name": "Acme AI", "enabled": True}
        assert first["prices"] == {
            "input_per_token": "0.000003",
            "output_per_token": "0.000015",
            "cache_read_per_token": "0.0000003",
            "cache_write_per_token": "0.00000375",
            "input_per_million": "3",
            "output_per_million": "15",
            "cache_read_per_million": "0.3",
            "cache_write_per_million": "3.75",
        }
        assert first["capabilities"] == {
            "tools": True,
            "vision": True,
            "json": False,
            "streaming": True,
            "reasoning": True,
        }
        assert (first["context_window"], first["max_output_tokens"], first["power_level"], first["plan_tier"]) == (
            200_000,
            64_000,
            "PRECISION",
            "enterprise",
        )
        assert first["quality_score"] == "0.85"
        assert first["task_quality"] == {"code": 0.91}
        assert first["health"]["latency_p50_ms"] == 900 and first["health"]["circuit_state"] == "closed"
        assert body["models"][2]["health"] is None
        assert body["models"][1]["prices"]["cache_write_per_million"] is None

        workloads = {w["key"]: w for w in body["workloads"]}
        assert list(workloads) == ["chat_turn", "rag_answer", "document_summary", "support_bot_month"]
        chat = workloads["chat_turn"]
        assert (chat["input_tokens"], chat["output_tokens"], chat["requests"]) == (1_000, 300, 1)
        # 1,000 x $3/M + 300 x $15/M; 1,000 x $0.15/M + 300 x $0.60/M; 1,000 x $1/M + 300 x $4/M
        assert [c["cost"]["total_usd"] for c in chat["costs"]] == ["0.0075", "0.00033", "0.0022"]
        assert ids(chat["costs"]) == ["acme/big", "acme/mini", "globex/mid"]
        assert chat["cheapest"] == ["acme/mini"]

        bot = workloads["support_bot_month"]
        assert (bot["cached_input_tokens"], bot["requests"]) == (2_000, 30_000)
        big_bot, mini_bot, mid_bot = (c["cost"] for c in bot["costs"])
        # big: 500 fresh x $3/M + 2,000 cached x $0.30/M + 250 x $15/M = $0.00585 a request, x 30,000
        assert (big_bot["per_request_usd"], big_bot["total_usd"]) == ("0.00585", "175.5")
        assert big_bot["per_request_parts"] == {
            "input_usd": "0.0015",
            "cached_input_usd": "0.0006",
            "cache_write_usd": "0",
            "output_usd": "0.00375",
        }
        assert big_bot["cache_savings_usd"] == "0.0054"  # 2,000 x ($3 - $0.30)/M
        assert mini_bot["total_usd"] == "11.25"  # (500 x 0.15 + 2,000 x 0.075 + 250 x 0.60)/M x 30,000
        # mid has no cache price: the cached tokens cost the input price.
        assert (mid_bot["total_usd"], mid_bot["cache_savings_usd"]) == ("105", "0")
        assert mid_bot["notes"] == ["It has no cache-read price: cached tokens cost the input price."]

        summary = workloads["document_summary"]
        mid_summary = summary["costs"][2]["cost"]
        assert mid_summary["fits_context"] is False
        assert mid_summary["notes"] == ["A request of 41,000 tokens does not fit its 32,000-token context."]
        assert summary["cheapest"] == ["acme/mini"]

        assert body["highlights"] == {
            "lowest_input_price": ["acme/mini"],
            "lowest_output_price": ["acme/mini"],
            "largest_context": ["acme/big"],
            "highest_quality": ["acme/big"],
            "lowest_latency": ["acme/big"],
        }

    def test_installed_and_plan_are_the_callers(self, client, workspace, catalog, plans):
        InstalledModelFactory(workspace=workspace, model=catalog["mini"])
        other = WorkspaceFactory(plan=plans["max"])
        InstalledModelFactory(workspace=other, model=catalog["big"])

        body = client.get(COMPARE, {"models": "acme/mini,acme/big,globex/mid"}).json()

        access = [(m["installed"], m["available_on_my_plan"], m["unlocked_by"]) for m in body["models"]]
        assert access == [
            (True, True, None),
            (False, False, {"slug": "max", "name": "Max"}),  # enterprise tier: Plus stops at pro
            (False, True, None),
        ]

    def test_a_plan_that_names_a_model_unlocks_it_first(self, client, catalog, plans):
        plans["basic"].allowed_models.add(catalog["big"])
        body = client.get(COMPARE, {"models": "acme/big,acme/mini"}).json()
        assert body["models"][0]["unlocked_by"] == {"slug": "basic", "name": "Basic"}

    def test_an_alias_names_its_model(self, client, catalog):
        ModelAliasFactory(alias="tiny", model=catalog["mini"])
        response = client.get(COMPARE, {"models": "tiny,globex/mid"})
        assert response.status_code == 200
        assert ids(response.json()["models"], "id") == ["acme/mini", "globex/mid"]

    def test_a_model_of_unknown_price_is_never_costed(self, client, catalog):
        body = client.get(COMPARE, {"models": "globex/mystery,acme/mini"}).json()
        assert body["models"][0]["price_unknown"] is True
        assert body["models"][0]["prices"]["input_per_million"] is None
        cost = body["workloads"][0]["costs"][0]["cost"]
        assert cost["total_usd"] is None and cost["per_request_usd"] is None
        assert "Its price is unknown, so it cannot be costed." in cost["notes"]
        assert body["workloads"][0]["cheapest"] == ["acme/mini"]
        assert body["highlights"]["lowest_input_price"] == ["acme/mini"]

    @pytest.mark.parametrize(
        ("params", "field", "message"),
        [
            ({}, "models", "This field is required."),
            ({"models": "acme/mini"}, "models", "Compare 2 to 4 models; 1 given."),
            (
                {"models": "acme/mini,acme/big,globex/mid,globex/coder,acme/old"},
                "models",
                "Compare 2 to 4 models; 5 given.",
            ),
            ({"models": " , ,"}, "models", "Compare 2 to 4 models; 0 given."),
            ({"models": "acme/mini,nope/x,nope/y"}, "models", "Unknown models: nope/x, nope/y."),
            ({"models": "acme/mini,acme/mini"}, "models", "acme/mini names acme/mini, which is already listed."),
            (
                {"models": "acme/mini,acme/big", "sort": "price"},
                "sort",
                "Unknown parameter; this endpoint takes models.",
            ),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, catalog, params, field, message):
        response = client.get(COMPARE, params)
        assert response.status_code == 400
        body = response.json()
        assert body["extra"]["fields"] == {field: [message]}
        assert body["message"] == f"Invalid input: {field}: {message}" or body["message"] == message

    def test_an_alias_of_a_listed_model_is_a_duplicate(self, client, catalog):
        ModelAliasFactory(alias="tiny", model=catalog["mini"])
        response = client.get(COMPARE, {"models": "acme/mini,tiny"})
        assert response.status_code == 400
        assert response.json()["extra"] == {
            "code": "duplicate_model",
            "fields": {"models": ["tiny names acme/mini, which is already listed."]},
        }

    def test_a_parameter_given_twice_is_bad_input(self, client, catalog):
        response = client.get(f"{COMPARE}?models=acme/mini,acme/big&models=globex/mid,acme/big")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {"models": ["Give this parameter once."]}

    def test_queries_do_not_grow_with_the_models(self, client, catalog, django_assert_num_queries):
        for model in catalog.values():
            TaskScoreFactory(model=model, task="chat", score=Decimal("0.5"))
        # session, user, membership; models; installed; plans; plan rules; task scores
        with django_assert_num_queries(8):
            assert client.get(COMPARE, {"models": "acme/mini,acme/big"}).status_code == 200
        with django_assert_num_queries(8):
            assert client.get(COMPARE, {"models": "acme/mini,acme/big,globex/mid,globex/coder"}).status_code == 200
        ModelAliasFactory(alias="tiny", model=catalog["mini"])
        with django_assert_num_queries(9):  # + the aliases
            assert client.get(COMPARE, {"models": "tiny,acme/big,globex/mid,globex/coder"}).status_code == 200

    def test_without_credentials_it_is_401(self, catalog):
        response = APIClient().get(COMPARE, {"models": "acme/mini,acme/big"})
        assert response.status_code == 401
        assert response.json()["extra"] == {"code": "not_authenticated"}


class TestEstimate:
    def test_cached_tokens_at_the_cache_price_with_the_parts_and_volumes(self, client, catalog):
        response = client.post(
            ESTIMATE,
            {
                "models": ["acme/big", "globex/mid"],
                "input_tokens": 10_000,
                "output_tokens": 1_000,
                "cached_input_tokens": 6_000,
                "cache_write_tokens": 2_000,
                "requests": 3,
                "requests_per_month": 20_000,
            },
            format="json",
        )

        assert response.status_code == 200
        body = response.json()
        assert body["volume"] == {
            "input_tokens": 10_000,
            "output_tokens": 1_000,
            "cached_input_tokens": 6_000,
            "cache_write_tokens": 2_000,
            "requests": 3,
            "requests_per_month": 20_000,
        }
        big, mid = body["results"]
        assert (big["requested"], big["model"], big["provider"]["slug"]) == ("acme/big", "acme/big", "acme")
        assert big["prices"]["input_per_million"] == "3"
        # 2,000 fresh x $3/M + 6,000 cached x $0.30/M + 2,000 written x $3.75/M + 1,000 x $15/M
        assert big["cost"]["per_request_parts"] == {
            "input_usd": "0.006",
            "cached_input_usd": "0.0018",
            "cache_write_usd": "0.0075",
            "output_usd": "0.015",
        }
        assert big["cost"]["per_request_usd"] == "0.0303"
        assert big["cost"]["total_usd"] == "0.0909"
        assert big["cost"]["monthly_usd"] == "606"
        assert big["cost"]["cache_savings_usd"] == "0.0147"  # 6,000 x $2.70/M - 2,000 x $0.75/M
        assert big["cost"]["notes"] == []
        # mid has no cache prices: every input token costs $1/M.
        assert mid["cost"]["per_request_usd"] == "0.014"
        assert (mid["cost"]["cache_savings_usd"], mid["cost"]["monthly_usd"]) == ("0", "280")
        assert mid["cost"]["notes"] == [
            "It has no cache-read price: cached tokens cost the input price.",
            "It has no cache-write price: tokens written to the cache cost the input price.",
        ]
        assert body["cheapest"] == ["globex/mid"]

    def test_a_single_model_with_defaults(self, client, catalog):
        response = client.post(
            ESTIMATE, {"models": ["acme/mini"], "input_tokens": 1, "output_tokens": 0}, format="json"
        )
        assert response.status_code == 200
        [line] = response.json()["results"]
        assert line["cost"]["per_request_usd"] == "0.00000015"
        assert line["cost"]["monthly_usd"] is None
        assert response.json()["volume"]["requests"] == 1

    def test_the_figure_is_what_the_gateway_charges_to_ten_decimals(self, client, catalog):
        catalog["mini"].input_price = Decimal("0.000000123456789012")
        catalog["mini"].save()
        body = client.post(
            ESTIMATE, {"models": ["acme/mini"], "input_tokens": 3, "output_tokens": 0, "requests": 7}, format="json"
        ).json()
        assert body["results"][0]["cost"]["per_request_usd"] == "0.0000003704"  # 3 x 0.000000123456789, rounded
        assert body["results"][0]["cost"]["total_usd"] == "0.0000025928"

    def test_unknown_price_deprecated_and_too_small_are_said(self, client, catalog):
        body = client.post(
            ESTIMATE,
            {"models": ["globex/mystery", "acme/old", "globex/mid"], "input_tokens": 40_000, "output_tokens": 10_000},
            format="json",
        ).json()
        mystery, old, mid = body["results"]
        assert mystery["cost"]["total_usd"] is None and mystery["price_unknown"] is True
        assert mystery["cost"]["notes"] == ["Its price is unknown, so it cannot be costed."]
        assert "It is deprecated." in old["cost"]["notes"]
        assert mid["cost"]["fits_context"] is False
        assert mid["cost"]["notes"][:2] == [
            "A request of 50,000 tokens does not fit its 32,000-token context.",
            "It writes at most 8,192 output tokens per request.",
        ]
        assert body["cheapest"] == ["acme/old"]

    def test_without_models_the_workspaces_installed_models(self, client, workspace, catalog, plans):
        InstalledModelFactory(workspace=workspace, model=catalog["mini"])
        InstalledModelFactory(workspace=workspace, model=catalog["coder"])
        InstalledModelFactory(workspace=WorkspaceFactory(plan=plans["max"]), model=catalog["big"])

        body = client.post(ESTIMATE, {"input_tokens": 1_000, "output_tokens": 1_000}, format="json").json()

        assert ids(body["results"]) == ["acme/mini", "globex/coder"]
        assert all(line["installed"] and line["available_on_my_plan"] for line in body["results"])
        assert [line["cost"]["total_usd"] for line in body["results"]] == ["0.00075", "0.002"]

    def test_without_models_and_nothing_installed_it_is_400(self, client, workspace, catalog, plans):
        InstalledModelFactory(workspace=WorkspaceFactory(plan=plans["max"]), model=catalog["big"])
        response = client.post(ESTIMATE, {"input_tokens": 1, "output_tokens": 1}, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {
            "models": ["Name the models to estimate: none is installed in this workspace."]
        }

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"output_tokens": 1}, "input_tokens", "This field is required."),
            ({"input_tokens": "lots", "output_tokens": 1}, "input_tokens", "A valid integer is required."),
            (
                {"input_tokens": -1, "output_tokens": 1},
                "input_tokens",
                "Ensure this value is greater than or equal to 0.",
            ),
            ({"input_tokens": 0, "output_tokens": 0}, "input_tokens", "Give some input or output tokens."),
            (
                {"input_tokens": 10, "output_tokens": 1, "cached_input_tokens": 8, "cache_write_tokens": 3},
                "cached_input_tokens",
                "Cached and cache-write tokens are part of input_tokens: at most that.",
            ),
            (
                {"input_tokens": 1, "output_tokens": 1, "requests": 0},
                "requests",
                "Ensure this value is greater than or equal to 1.",
            ),
            (
                {"input_tokens": 1, "output_tokens": 1, "requests_per_month": "x"},
                "requests_per_month",
                "A valid integer is required.",
            ),
            ({"input_tokens": 1, "output_tokens": 1, "currency": "EUR"}, "currency", "Unknown field."),
            (
                {"input_tokens": 1, "output_tokens": 1, "models": []},
                "models",
                "Ensure this field has at least 1 elements.",
            ),
            (
                {"input_tokens": 1, "output_tokens": 1, "models": "acme/mini"},
                "models",
                'Expected a list of items but got type "str".',
            ),
            (
                {"input_tokens": 1, "output_tokens": 1, "models": ["acme/mini", "nope"]},
                "models",
                "Unknown model: nope.",
            ),
            (
                {"input_tokens": 1, "output_tokens": 1, "models": [f"m{n}" for n in range(51)]},
                "models",
                "Ensure this field has no more than 50 elements.",
            ),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, catalog, data, field, message):
        response = client.post(ESTIMATE, data, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {field: [message]}

    def test_a_query_parameter_is_bad_input(self, client, catalog):
        response = client.post(f"{ESTIMATE}?models=acme/mini", {"input_tokens": 1, "output_tokens": 1}, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {
            "models": ["Unknown parameter; this endpoint takes no query parameters."]
        }

    def test_an_api_key_estimates_for_its_workspace(self, workspace, catalog):
        InstalledModelFactory(workspace=workspace, model=catalog["mid"])
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        as_key = APIClient()
        as_key.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        response = as_key.post(ESTIMATE, {"input_tokens": 500, "output_tokens": 0}, format="json")
        assert response.status_code == 200
        assert ids(response.json()["results"]) == ["globex/mid"]

    def test_queries_do_not_grow_with_the_models(self, client, workspace, catalog, django_assert_num_queries):
        extra = [ModelFactory(plan_tier="enterprise") for _ in range(20)]
        names = [m.model_id for m in extra]
        # session, user, membership; models; installed; plans; plan rules
        with django_assert_num_queries(7):
            response = client.post(
                ESTIMATE, {"models": names[:2], "input_tokens": 1, "output_tokens": 1}, format="json"
            )
        assert response.status_code == 200
        with django_assert_num_queries(7):
            response = client.post(ESTIMATE, {"models": names, "input_tokens": 1, "output_tokens": 1}, format="json")
        assert len(response.json()["results"]) == 20
        for model in extra:
            InstalledModelFactory(workspace=workspace, model=model)
        with django_assert_num_queries(7):  # the installed models instead of the named ones
            response = client.post(ESTIMATE, {"input_tokens": 1, "output_tokens": 1}, format="json")
        assert len(response.json()["results"]) == 20


class TestRecommend:
    def test_the_task_score_leads_within_the_target_tier(self, client, catalog):
        TaskScoreFactory(model=catalog["coder"], task="code", score=Decimal("0.95"), source="benchmark")

        response = client.get(RECOMMEND, {"task": "code"})

        assert response.status_code == 200
        body = response.json()
        assert (body["task"], body["complexity"], body["budget"]) == ("code", "medium", "medium")
        assert body["plan"] == {"slug": "plus", "name": "Plus"}
        assert body["target_power_level"] == "BALANCED"
        assert body["weights"] == {"cost": 0.4, "latency": 0.4, "quality": 0.2}
        # Plus allows the starter and pro tiers: big is out; mystery, old and hidden can never be picked.
        assert body["candidates_total"] == 3
        assert ids(body["results"]) == ["globex/coder", "globex/mid", "acme/mini"]
        coder, mid, mini = body["results"]
        assert [r["rank"] for r in body["results"]] == [1, 2, 3]
        assert coder["score"] > mid["score"] > mini["score"]
        assert (coder["task_quality"], coder["quality_source"]) == (0.95, "benchmark")
        assert (mid["task_quality"], mid["quality_source"]) == (0.7, None)
        assert mini["score_parts"]["tier"] == -0.5
        # 2,000 x $0.50/M + 500 x $1.50/M
        assert coder["cost"]["per_request_usd"] == "0.00175"
        assert coder["reason"] == (
            "Balanced tier, the target for a medium-complexity code task on a medium budget. "
            "Code quality 0.95 (from benchmark runs). $0.00175 per request, 2.9x the cheapest candidate. "
            "Not installed in your workspace yet."
        )
        assert mid["reason"].startswith(
            "Balanced tier, the target for a medium-complexity code task on a medium budget. "
            "Quality 0.70 (its overall score: no code score yet)."
        )
        assert mini["reason"].startswith("Eco tier, 1 away from the target (Balanced).")
        assert "Among the cheapest candidates: $0.0006 per request." in mini["reason"]

    def test_the_budget_weighs_cost_or_quality(self, client, catalog):
        medium = client.get(RECOMMEND, {"task": "chat"}).json()
        assert ids(medium["results"])[:2] == ["globex/coder", "globex/mid"]  # cheaper wins at 0.4/0.4/0.2

        high = client.get(RECOMMEND, {"task": "chat", "budget": "high"}).json()
        assert high["weights"] == {"cost": 0.1, "latency": 0.2, "quality": 0.7}
        assert ids(high["results"])[:2] == ["globex/mid", "globex/coder"]  # better quality wins

        low = client.get(RECOMMEND, {"task": "chat", "budget": "low"}).json()
        assert low["target_power_level"] == "ECO"
        assert ids(low["results"])[0] == "acme/mini"

    def test_complexity_moves_the_tier_and_another_plan_shows_what_it_unlocks(self, client, catalog):
        body = client.get(RECOMMEND, {"task": "reasoning", "complexity": "high", "plan": "max", "limit": 2}).json()

        assert body["plan"] == {"slug": "max", "name": "Max"}
        assert body["target_power_level"] == "PRECISION"
        assert body["candidates_total"] == 4
        assert ids(body["results"]) == ["acme/big", "globex/coder"]
        big = body["results"][0]
        assert (big["available_on_my_plan"], big["unlocked_by"]) == (False, {"slug": "max", "name": "Max"})
        assert "Not on your plan; Max includes it." in big["reason"]
        assert re.search(r"\$0\.0135 per request, \d\dx the cheapest candidate\.", big["reason"])
        assert body["results"][1]["available_on_my_plan"] is True

    def test_the_workspaces_power_level_and_weights_are_the_default(self, client, workspace, catalog):
        workspace.preferred_power_level = "ECO"
        workspace.routing_weights = {"cost": 0, "latency": 0, "quality": 2}
        workspace.save()
        body = client.get(RECOMMEND).json()
        assert (body["target_power_level"], body["weights"]) == ("ECO", {"cost": 0.0, "latency": 0.0, "quality": 1.0})
        assert ids(body["results"])[0] == "acme/mini"
        assert client.get(RECOMMEND, {"power_level": "PRECISION", "plan": "max"}).json()["results"][0]["model"] == (
            "acme/big"
        )

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"vision": "true"}, ["acme/big"]),
            ({"tools": "true", "json": "true"}, ["acme/mini"]),
            ({"reasoning": "true"}, ["acme/big"]),
            ({"min_context": 100_000}, ["acme/big", "acme/mini"]),
            ({"input_tokens": 50_000, "output_tokens": 10_000}, ["acme/big", "acme/mini", "globex/coder"]),
        ],
    )
    def test_requirements_filter_the_candidates(self, client, catalog, params, expected):
        body = client.get(RECOMMEND, {"plan": "max", "limit": 20, **params}).json()
        assert sorted(ids(body["results"])) == expected
        assert body["candidates_total"] == len(expected)

    def test_installed_filters_on_the_callers_workspace(self, client, workspace, catalog, plans):
        InstalledModelFactory(workspace=workspace, model=catalog["mid"])
        InstalledModelFactory(workspace=WorkspaceFactory(plan=plans["max"]), model=catalog["coder"])

        installed = client.get(RECOMMEND, {"installed": "true"}).json()
        assert ids(installed["results"]) == ["globex/mid"]
        assert installed["results"][0]["installed"] is True
        assert installed["results"][0]["reason"].endswith("Installed in your workspace.")

        others = client.get(RECOMMEND, {"installed": "false"}).json()
        assert sorted(ids(others["results"])) == ["acme/mini", "globex/coder"]

    def test_an_open_circuit_is_skipped_and_latency_counts(self, client, catalog):
        ModelHealth.objects.create(model=catalog["coder"], circuit_state="open", requests=20, error_rate="0.5")
        ModelHealth.objects.create(model=catalog["mid"], requests=50, successes=50, latency_p50_ms=400)

        body = client.get(RECOMMEND, {"task": "chat"}).json()

        assert ids(body["results"]) == ["globex/mid", "acme/mini"]
        mid = body["results"][0]
        assert mid["latency_p50_ms"] == 400
        assert "Median latency 400 ms lately." in mid["reason"]
        assert body["results"][1]["latency_p50_ms"] is None

    def test_next_to_a_free_model_no_ratio_is_made_up(self, client, catalog):
        ModelFactory(
            provider=catalog["mini"].provider, upstream_name="free", input_price=0, output_price=0, power_level="ECO"
        )
        body = client.get(RECOMMEND, {"task": "chat", "plan": "max", "limit": 20}).json()
        reasons = {r["model"]: r["reason"] for r in body["results"]}
        assert "Among the cheapest candidates: $0 per request." in reasons["acme/free"]
        assert "$0.00175 per request; the cheapest candidates are free." in reasons["globex/coder"]

    def test_nothing_fits_is_an_empty_list(self, client, catalog):
        body = client.get(RECOMMEND, {"vision": "true"}).json()
        assert (body["candidates_total"], body["results"]) == (0, [])

    @pytest.mark.parametrize(
        ("params", "field", "message"),
        [
            ({"task": "poetry"}, "task", '"poetry" is not a valid choice.'),
            ({"complexity": "extreme"}, "complexity", '"extreme" is not a valid choice.'),
            ({"budget": "none"}, "budget", '"none" is not a valid choice.'),
            ({"power_level": "turbo"}, "power_level", '"turbo" is not a valid choice.'),
            ({"plan": "platinum"}, "plan", "No plan 'platinum'."),
            ({"tools": "maybe"}, "tools", "Must be a valid boolean."),
            ({"min_context": "big"}, "min_context", "A valid integer is required."),
            ({"input_tokens": "-5"}, "input_tokens", "Ensure this value is greater than or equal to 0."),
            ({"limit": 0}, "limit", "Ensure this value is greater than or equal to 1."),
            ({"limit": 21}, "limit", "Ensure this value is less than or equal to 20."),
            ({"sort": "price"}, "sort", None),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, catalog, params, field, message):
        response = client.get(RECOMMEND, params)
        assert response.status_code == 400
        fields = response.json()["extra"]["fields"]
        assert list(fields) == [field]
        if message is not None:
            assert fields[field] == [message]
        else:
            assert fields[field][0].startswith("Unknown parameter; this endpoint takes budget, complexity,")

    def test_queries_do_not_grow_with_the_catalog(self, client, catalog, django_assert_num_queries):
        def recommend():
            response = client.get(RECOMMEND, {"task": "code", "plan": "max", "limit": 20})
            assert response.status_code == 200
            return response.json()

        # session, user, membership; the plan named; candidates; task scores; installed; plans; plan rules
        with django_assert_num_queries(9):
            assert recommend()["candidates_total"] == 4
        for n in range(30):
            model = ModelFactory(power_level="BALANCED", plan_tier="pro")
            TaskScoreFactory(model=model, task="code", score=Decimal("0.5"))
            ModelHealth.objects.create(model=model, latency_p50_ms=500 + n)
        with django_assert_num_queries(9):
            assert len(recommend()["results"]) == 20


@pytest.fixture(scope="class")
def shipped_catalog(django_db_setup, django_db_blocker):
    """The full LiteLLM snapshot, loaded once for the class and removed after it (other tests expect no catalog)."""
    with django_db_blocker.unblock():
        call_command("sync_catalog", "--no-progress", stdout=io.StringIO())
        yield
        ModelAlias.objects.all().delete()
        Model.objects.all().delete()
        Provider.objects.all().delete()


@pytest.mark.usefixtures("shipped_catalog")
class TestFullShippedCatalog:
    def test_compare_real_models(self, client):
        alias = ModelAlias.objects.filter(model__model_id="openai/gpt-4o-mini").values_list("alias", flat=True).first()
        names = f"{alias or 'openai/gpt-4o-mini'},anthropic/claude-sonnet-4-5,gemini/gemini-2.5-flash"

        body = client.get(COMPARE, {"models": names}).json()

        models = {m["id"]: m for m in body["models"]}
        assert list(models) == ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"]
        assert {k: v for k, v in models["openai/gpt-4o-mini"]["prices"].items() if k.endswith("_per_million")} == {
            "input_per_million": "0.15",
            "output_per_million": "0.6",
            "cache_read_per_million": "0.075",
            "cache_write_per_million": None,
        }
        assert models["anthropic/claude-sonnet-4-5"]["prices"]["cache_write_per_million"] == "3.75"
        chat = body["workloads"][0]
        # 1,000 x $0.15/M + 300 x $0.60/M; 1,000 x $3/M + 300 x $15/M; 1,000 x $0.30/M + 300 x $2.50/M
        assert [c["cost"]["total_usd"] for c in chat["costs"]] == ["0.00033", "0.0075", "0.00105"]
        assert body["highlights"]["largest_context"] == ["gemini/gemini-2.5-flash"]
        assert body["highlights"]["lowest_input_price"] == ["openai/gpt-4o-mini"]

    def test_estimate_fifty_models_in_the_same_queries_as_one(self, client, django_assert_num_queries):
        names = list(
            Model.objects.filter(price_unknown=False)
            .order_by("-popularity", "model_id")
            .values_list("model_id", flat=True)[:50]
        )
        with django_assert_num_queries(7):
            one = client.post(
                ESTIMATE, {"models": names[:1], "input_tokens": 1_000, "output_tokens": 100}, format="json"
            )
        with django_assert_num_queries(7):
            fifty = client.post(ESTIMATE, {"models": names, "input_tokens": 1_000, "output_tokens": 100}, format="json")
        assert one.status_code == fifty.status_code == 200
        lines = fifty.json()["results"]
        assert ids(lines) == names
        assert all(line["cost"]["per_request_usd"] is not None for line in lines)
        cheapest = min(Decimal(line["cost"]["total_usd"]) for line in lines if line["cost"]["fits_context"])
        assert all(
            Decimal(lines[ids(lines).index(m)]["cost"]["total_usd"]) == cheapest for m in fifty.json()["cheapest"]
        )

    def test_recommend_over_the_whole_catalog(self, client, plans, django_assert_num_queries):
        with django_assert_num_queries(9):
            response = client.get(
                RECOMMEND, {"task": "code", "complexity": "high", "tools": "true", "plan": "max", "limit": 20}
            )
        body = response.json()
        expected = Model.objects.filter(
            mode="chat",
            enabled=True,
            provider__enabled=True,
            deprecated_at__isnull=True,
            price_unknown=False,
            supports_tools=True,
        ).exclude(context_window__lt=2_500)
        assert body["candidates_total"] == expected.count() > 100
        results = body["results"]
        assert len(results) == 20
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
        assert {r["power_level"] for r in results[:5]} == {"PRECISION"}
        chosen = Model.objects.filter(model_id__in=ids(results)).select_related("provider")
        assert all(m.supports_tools and m.provider.enabled and m.deprecated_at is None for m in chosen)

    def test_recommend_on_a_default_models_plan(self, client, workspace, plans):
        workspace.plan = plans["basic"]
        workspace.save()
        body = client.get(RECOMMEND, {"limit": 20}).json()
        assert body["candidates_total"] == 3
        assert sorted(ids(body["results"])) == [
            "anthropic/claude-haiku-4-5",
            "gemini/gemini-2.5-flash",
            "openai/gpt-4o-mini",
        ]
        assert all(r["available_on_my_plan"] for r in body["results"])
