"""GET /v1/models, /v1/generation and /v1/credits: end to end through the live gateway, and their queries pinned."""

from decimal import Decimal

import httpx
import openai
import pytest
from django.test import Client

from apps.billing.services import ledger_correction, ledger_topup
from apps.catalog.models import ModelMode
from apps.keys.services import api_key_revoke
from apps.workspaces.models import ModelAccess
from tests.analytics.factories import UsageRecordFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.keys.factories import ApiKeyFactory
from tests.routing.conftest import PRICES
from tests.workspaces.factories import AgentFactory, InstalledModelFactory, PlanFactory, WorkspaceFactory


def sdk(gateway, api_key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=api_key or gateway.secret, max_retries=0)


def get(gateway, path: str, secret: str | None = None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret or gateway.secret}"}
    return httpx.get(f"{gateway.v1}{path}", headers=headers, params=params, timeout=10)


def test_models_generation_and_credits_end_to_end(gateway):
    client = sdk(gateway)
    completion = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}]
    )
    record = gateway.record(completion.id)

    models = client.models.list()
    assert sorted(m.id for m in models.data) == sorted(PRICES)
    mini = next(m for m in models.data if m.id == "openai/gpt-4o-mini")
    assert (mini.object, mini.owned_by) == ("model", "openai")
    assert mini.created == int(gateway.models["openai/gpt-4o-mini"].created_at.timestamp())
    assert mini.model_extra["pricing"] == {
        "prompt": "0.00000015",
        "completion": "0.0000006",
        "cache_read": "0.000000075",
        "cache_write": None,
    }
    assert mini.model_extra["price_unknown"] is False
    assert (mini.model_extra["context_window"], mini.model_extra["max_output_tokens"]) == (128_000, 16_384)
    assert mini.model_extra["capabilities"] == {
        "tools": True,
        "vision": True,
        "json": True,
        "streaming": True,
        "reasoning": False,
    }

    generation = get(gateway, "/generation", id=completion.id)
    assert generation.status_code == 200
    data = generation.json()["data"]
    assert data["id"] == completion.id
    assert (data["model"], data["provider"], data["requested_model"]) == (
        "openai/gpt-4o-mini",
        "openai",
        "openai/gpt-4o-mini",
    )
    assert data["tokens_prompt"] == completion.usage.prompt_tokens > 0
    assert data["tokens_completion"] == completion.usage.completion_tokens > 0
    assert (data["tokens_cached"], data["tokens_cache_write"], data["tokens_reasoning"]) == (0, 0, 0)
    expected_cost = completion.usage.prompt_tokens * Decimal("0.00000015") + (
        completion.usage.completion_tokens * Decimal("0.0000006")
    )
    assert record.cost_usd == expected_cost
    assert data["total_cost"] == float(expected_cost)
    assert (data["status"], data["http_status"], data["error_type"], data["finish_reason"]) == (
        "success",
        200,
        None,
        "stop",
    )
    assert (data["streamed"], data["is_byok"], data["price_unknown"]) == (False, False, False)
    assert (data["api_key"], data["agent"]) == (gateway.api_key.mask, None)
    assert [(a["model"], a["provider"], a["status"]) for a in data["attempts"]] == [
        ("openai/gpt-4o-mini", "openai", 200)
    ]
    assert data["latency_ms"] == record.latency_ms and data["ttft_ms"] == record.ttft_ms
    assert data["created_at"] == record.created_at.isoformat()

    _, stranger = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory())
    hidden = get(gateway, "/generation", secret=stranger, id=completion.id)
    assert hidden.status_code == 404
    assert hidden.json() == {
        "error": {
            "message": f"No generation '{completion.id}' in this workspace.",
            "type": "not_found_error",
            "code": "generation_not_found",
            "param": None,
        }
    }

    ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("25.50"))
    ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("4.50"))
    ledger_correction(workspace=gateway.workspace, amount_usd=Decimal("-1.25"), description="refund reversed")
    credits = get(gateway, "/credits")
    assert credits.status_code == 200
    assert credits.json() == {"data": {"total_credits": 30.0, "total_usage": float(expected_cost), "balance": 28.75}}
    assert get(gateway, "/credits", secret=stranger).json() == {
        "data": {"total_credits": 0.0, "total_usage": 0.0, "balance": 0.0}
    }


def test_missing_and_revoked_keys_get_openai_shaped_401s(gateway):
    missing = httpx.get(f"{gateway.v1}/models", timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {
        "error": {
            "message": "Missing API key: send 'Authorization: Bearer sk-sy-…'.",
            "type": "authentication_error",
            "code": "missing_api_key",
            "param": None,
        }
    }
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, api_key="sk-sy-" + "x" * 48).models.list()

    api_key_revoke(api_key=gateway.api_key)
    revoked = get(gateway, "/credits")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "invalid_api_key"


@pytest.fixture
def caller(db):
    """A workspace on a plan of default models, its key, and its client for in-process /v1 calls."""
    workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.DEFAULT))
    api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
    return workspace, api_key, Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _install(workspace, count: int, **kwargs) -> list:
    models = [ModelFactory(default_installed=True, **kwargs) for _ in range(count)]
    for model in models:
        InstalledModelFactory(workspace=workspace, model=model)
    return models


@pytest.mark.parametrize("count", [1, 8])
def test_models_list_takes_two_queries_whatever_the_count(caller, django_assert_max_num_queries, count):
    workspace, _, client = caller
    installed = _install(workspace, count)
    with django_assert_max_num_queries(2):
        response = client.get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == sorted(m.model_id for m in installed)


def test_models_list_shows_only_models_the_workspace_can_call(caller):
    workspace, _, client = caller
    [callable_model] = _install(workspace, 1, input_price=None, output_price=None, price_unknown=True)
    _install(workspace, 1, enabled=False)
    _install(workspace, 1, provider=ProviderFactory(enabled=False))
    outside_plan = ModelFactory(default_installed=False)
    InstalledModelFactory(workspace=workspace, model=outside_plan)
    ModelFactory(default_installed=True)  # in the catalog, not installed

    data = client.get("/v1/models").json()["data"]

    assert [m["id"] for m in data] == [callable_model.model_id]
    assert data[0]["price_unknown"] is True
    assert data[0]["pricing"] == {"prompt": None, "completion": None, "cache_read": None, "cache_write": None}


def test_one_model_by_id(caller):
    workspace, _, client = caller
    [model] = _install(workspace, 1, mode=ModelMode.CHAT)
    found = client.get(f"/v1/models/{model.model_id}")
    assert found.status_code == 200
    assert (found.json()["id"], found.json()["owned_by"]) == (model.model_id, model.provider.slug)
    missing = client.get("/v1/models/openai/not-installed")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/models/openai/a%00b").status_code == 404  # PostgreSQL refuses a NUL: never a 500


def test_generation_of_an_agent_and_of_an_unknown_price(caller, django_assert_max_num_queries):
    workspace, api_key, client = caller
    agent = AgentFactory(workspace=workspace, slug="triage")
    UsageRecordFactory(
        workspace=workspace,
        api_key=api_key,
        agent=agent,
        generation_id="gen-unpriced",
        cost_usd=None,
        price_unknown=True,
        streamed=True,
    )
    with django_assert_max_num_queries(2):
        data = client.get("/v1/generation", {"id": "gen-unpriced"}).json()["data"]
    assert (data["agent"], data["api_key"]) == ("triage", api_key.mask)
    assert (data["total_cost"], data["price_unknown"], data["streamed"]) == (None, True, True)


def test_generation_without_an_id_is_400(caller):
    response = caller[2].get("/v1/generation")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Give the generation id: ?id=gen-…",
            "type": "invalid_request_error",
            "code": "missing_parameter",
            "param": "id",
        }
    }


def test_credits_sum_the_workspaces_usage(caller):
    workspace, api_key, client = caller
    UsageRecordFactory(workspace=workspace, api_key=api_key, cost_usd=Decimal("0.0125"))
    UsageRecordFactory(workspace=workspace, api_key=api_key, cost_usd=Decimal("0.5"))
    UsageRecordFactory(workspace=workspace, api_key=api_key, cost_usd=None, price_unknown=True)
    UsageRecordFactory(cost_usd=Decimal("9"))  # another workspace
    ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
    assert client.get("/v1/credits").json() == {"data": {"total_credits": 10.0, "total_usage": 0.5125, "balance": 10.0}}


def test_other_methods_and_paths_answer_in_openai_shape(caller):
    client = caller[2]
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    post_to_get = client.post("/v1/models")
    assert (post_to_get.status_code, post_to_get["Allow"]) == (405, "GET")
    unknown = client.get("/v1/embeddings")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "message": "Unknown endpoint: GET /v1/embeddings.",
        "type": "not_found_error",
        "code": "unknown_endpoint",
        "param": None,
    }
