"""POST /v1/consensus end to end: the live gateway asks several models through the mock provider over HTTP."""

import time
from decimal import Decimal

import httpx
import openai
import pytest
from django.db.backends.utils import CursorWrapper

from apps.billing.models import BudgetAction, BudgetPeriod, BudgetScope
from apps.routing.adapters import Completion, Usage
from apps.routing.gateway import context
from apps.routing.gateway.consensus import _content_of
from apps.routing.gateway.recording import usage_spool
from apps.workspaces.models import ModelAccess
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import BudgetFactory
from tests.catalog.factories import ModelFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]
UPSTREAM = {"openai/gpt-4o-mini": "gpt-4o-mini", "anthropic/claude-haiku-4-5": "claude-haiku-4-5"}
UPSTREAM["gemini/gemini-2.5-flash"] = "gemini-2.5-flash"
QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def client(gateway, secret: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=secret or gateway.secret, max_retries=0)


def consensus(gateway, secret: str | None = None, **body) -> httpx.Response:
    """The raw response, through the official SDK (which raises its own errors on 4xx and 5xx)."""
    return client(gateway, secret).post("/consensus", body={"messages": QUESTION, **body}, cast_to=httpx.Response)


def post(gateway, body, **headers) -> httpx.Response:
    headers = {"authorization": f"Bearer {gateway.secret}", **headers}
    return httpx.post(f"{gateway.v1}/consensus", json=body, headers=headers, timeout=10)


def rule(gateway, model_id: str, **fields) -> None:
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": UPSTREAM[model_id], **fields})


def expected_cost(gateway, model_id: str, record) -> Decimal:
    model = gateway.models[model_id]
    return (record.prompt_tokens * model.input_price + record.completion_tokens * model.output_price).quantize(
        Decimal("0.0000000001")
    )


def test_three_models_answer_with_agreement_disagreements_and_one_costed_record_each(gateway):
    rule(gateway, MODELS[0], reply="The answer is 42.")
    rule(gateway, MODELS[1], reply="42")
    rule(gateway, MODELS[2], reply="I believe the answer is 41.")

    response = consensus(gateway, models=MODELS)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "consensus" and body["id"].startswith("cons-")
    assert [a["model"] for a in body["answers"]] == MODELS
    assert [a["provider"] for a in body["answers"]] == ["openai", "anthropic", "gemini"]
    assert [a["content"] for a in body["answers"]] == ["The answer is 42.", "42", "I believe the answer is 41."]
    assert all(a["error"] is None and a["finish_reason"] == "stop" for a in body["answers"])
    assert body["agreement"] == pytest.approx(1 / 3, abs=1e-4)
    positions = {MODELS[0]: "42", MODELS[1]: "42", MODELS[2]: "41"}
    assert body["disagreements"] == [{"kind": "final_answer", "topic": "final answer", "positions": positions}]

    records = {r.generation_id: r for r in gateway.records(expected=3)}
    assert len(records) == 3
    assert set(records) == {a["generation_id"] for a in body["answers"]}
    for answer in body["answers"]:
        record = records[answer["generation_id"]]
        assert record.endpoint == "consensus" and record.status == "success"
        assert record.model_name == answer["model"] and record.requested_model == answer["model"]
        assert record.routing == {"consensus_id": body["id"], "models": MODELS}
        assert record.api_key_id == gateway.api_key.pk
        assert record.cost_usd == expected_cost(gateway, answer["model"], record) > 0
        assert answer["cost"] == pytest.approx(float(record.cost_usd))
        assert answer["usage"] == {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.prompt_tokens + record.completion_tokens,
        }
    total = sum(r.cost_usd for r in records.values())
    assert Decimal(response.headers["x-switchyard-cost"]) == total
    assert body["cost"] == pytest.approx(float(total))
    assert body["usage"]["total_tokens"] == sum(r.prompt_tokens + r.completion_tokens for r in records.values())
    assert response.headers["x-switchyard-consensus-id"] == body["id"]


def test_every_model_gets_the_same_request_once_with_a_token_cap(gateway):
    response = consensus(gateway, models=["gpt-4o-mini", "anthropic/claude-haiku-4-5"], temperature=0.2)

    assert response.status_code == 200
    sent = list(gateway.mock.state.requests)
    assert sorted(r["model"] for r in sent) == ["claude-haiku-4-5", "gpt-4o-mini"]
    openai_body = next(r["body"] for r in sent if r["wire"] == "openai")
    assert "models" not in openai_body and openai_body["max_tokens"] == 1024 and openai_body["temperature"] == 0.2
    # The mock answers from the prompt alone, so two models asked the same thing say the same thing.
    assert response.json()["agreement"] == 1.0
    assert response.json()["disagreements"] == []
    # A bare upstream name resolves like on chat, and the record keeps the name asked for.
    records = gateway.records(expected=2)
    assert sorted(r.requested_model for r in records) == ["anthropic/claude-haiku-4-5", "gpt-4o-mini"]


def test_the_calls_run_concurrently(gateway):
    for model_id in MODELS:
        rule(gateway, model_id, delay_ms=400)
    started = time.monotonic()
    response = consensus(gateway, models=MODELS)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1.0  # one after another would take 1.2 s
    assert all(a["latency_ms"] >= 400 for a in response.json()["answers"])


def test_a_failing_model_is_reported_while_the_others_answer(gateway):
    rule(gateway, MODELS[0], reply="Yes.")
    rule(gateway, MODELS[1], fault="503")
    rule(gateway, MODELS[2], reply="Yes, it is.")

    response = consensus(gateway, models=MODELS)

    assert response.status_code == 200
    body = response.json()
    failed = body["answers"][1]
    assert failed["content"] is None and failed["cost"] == 0
    assert failed["error"]["type"] == "upstream_error" and failed["error"]["status"] == 502
    assert "Mock fault 503" in failed["error"]["message"]
    assert failed["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert body["agreement"] == 1.0  # only the answers that came count
    assert body["disagreements"] == []

    records = {r.model_name: r for r in gateway.records(expected=3)}
    assert records[MODELS[1]].status == "error" and records[MODELS[1]].http_status == 502
    assert records[MODELS[1]].cost_usd is None
    assert [a["model"] for a in records[MODELS[1]].attempts] == [MODELS[1]]  # no fallback per model
    answered = records[MODELS[0]].cost_usd + records[MODELS[2]].cost_usd
    assert Decimal(response.headers["x-switchyard-cost"]) == answered


def test_when_every_model_fails_the_answer_is_502_and_every_call_is_recorded(gateway):
    for model_id in MODELS:
        rule(gateway, model_id, fault="500")

    with pytest.raises(openai.InternalServerError) as raised:
        consensus(gateway, models=MODELS)

    assert raised.value.status_code == 502
    assert raised.value.body["code"] == "all_models_failed"
    assert all(model_id in raised.value.body["message"] for model_id in MODELS)
    records = gateway.records(expected=3)
    assert len(records) == 3 and {r.status for r in records} == {"error"}
    assert {r.endpoint for r in records} == {"consensus"}


def test_a_model_whose_price_is_unknown_makes_the_total_unknown(gateway):
    model = gateway.models[MODELS[2]]
    model.input_price = model.output_price = None
    model.price_unknown = True
    model.save()

    response = consensus(gateway, models=MODELS[1:])

    assert response.json()["cost"] is None
    assert response.headers["x-switchyard-cost"] == "unknown"
    assert [a["cost"] is None for a in response.json()["answers"]] == [False, True]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "openai/gpt-4o-mini"}, "models"),
        ({"models": "openai/gpt-4o-mini"}, "models"),
        ({"models": ["openai/gpt-4o-mini"]}, "models"),
        ({"models": [*MODELS, "a/b", "c/d", "e/f"]}, "models"),
        ({"models": [MODELS[0], MODELS[1], MODELS[0]]}, "models"),
        ({"models": [MODELS[0], "gpt-4o-mini"]}, "models"),  # the same model by two names
        ({"models": [MODELS[0], 7]}, "models"),
        ({"models": MODELS[:2], "stream": True}, "stream"),
        ({"models": MODELS[:2], "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"models": MODELS[:2], "messages": []}, "messages"),
        ({"models": MODELS[:2], "max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_input_is_400_and_nothing_is_called_or_recorded(gateway, body, param):
    response = post(gateway, {"messages": QUESTION, **body})

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == param
    assert list(gateway.mock.state.requests) == []
    assert gateway.records(expected=0) == []


def test_bad_input_raises_the_sdks_bad_request_error(gateway):
    with pytest.raises(openai.BadRequestError) as raised:
        consensus(gateway, models=["openai/gpt-4o-mini"])
    assert "2 to 5" in raised.value.body["message"]


def test_unknown_not_installed_and_not_allowed_models_are_refused_before_any_call(gateway):
    response = post(gateway, {"messages": QUESTION, "models": [MODELS[0], "nope/nothing"]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert response.json()["error"]["param"] == "models[1]"

    ModelFactory(provider=gateway.providers["openai"], model_id="openai/gpt-4o", upstream_name="gpt-4o")
    response = post(gateway, {"messages": QUESTION, "models": ["openai/gpt-4o", MODELS[0]]})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_installed"
    assert response.json()["error"]["param"] == "models[0]"

    plan = gateway.workspace.plan
    plan.model_access = ModelAccess.DEFAULT
    plan.save()
    context.clear_caches()
    response = post(gateway, {"messages": QUESTION, "models": MODELS[:2]})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"

    assert list(gateway.mock.state.requests) == []
    assert gateway.records(expected=0) == []


def test_a_model_without_a_key_is_refused_before_any_call(gateway):
    provider = gateway.providers["gemini"]
    provider.platform_key = ""
    provider.env_key_name = ""
    provider.save()

    response = post(gateway, {"messages": QUESTION, "models": MODELS})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "provider_key_missing"
    assert response.json()["error"]["param"] == "models[2]"
    assert list(gateway.mock.state.requests) == []


def test_missing_or_bad_key_is_401(gateway):
    response = httpx.post(f"{gateway.v1}/consensus", json={"messages": QUESTION, "models": MODELS})
    assert response.status_code == 401
    assert post(gateway, {"messages": QUESTION, "models": MODELS}, authorization="Bearer sk-sy-nope").status_code == 401


def test_get_is_405_like_the_other_post_routes(gateway):
    response = httpx.get(f"{gateway.v1}/consensus", headers={"authorization": f"Bearer {gateway.secret}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_blocking_budget_with_too_little_left_refuses_with_429_before_any_call(gateway):
    BudgetFactory(workspace=gateway.workspace, period=BudgetPeriod.DAILY, limit_usd=Decimal("1"))
    UsageRecordFactory(workspace=gateway.workspace, cost_usd=Decimal("0.999"))  # $0.001 left
    # At most ~8 tokens in and 1024 out for each of three models: about $0.0083.

    with pytest.raises(openai.RateLimitError) as raised:
        consensus(gateway, models=MODELS)

    error = raised.value.body
    assert raised.value.status_code == 429
    assert error["code"] == "budget_exceeded"
    assert "the workspace's daily budget of $1 has" in error["message"]
    assert list(gateway.mock.state.requests) == []
    assert len(gateway.records(expected=1)) == 1  # only the spend put there by the test


def test_a_smaller_max_tokens_fits_the_budget_that_the_default_cap_does_not(gateway):
    BudgetFactory(workspace=gateway.workspace, limit_usd=Decimal("0.005"))
    assert post(gateway, {"messages": QUESTION, "models": MODELS}).status_code == 429
    response = post(gateway, {"messages": QUESTION, "models": MODELS, "max_tokens": 100})
    assert response.status_code == 200
    assert {r["body"]["max_tokens"] for r in gateway.mock.state.requests if r["wire"] == "openai"} == {100}


def test_key_and_agent_budgets_apply_to_their_own_calls_only(gateway):
    agent = AgentFactory(workspace=gateway.workspace)
    other_agent = AgentFactory(workspace=gateway.workspace)
    _, agent_secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, agent=agent)
    BudgetFactory(workspace=gateway.workspace, scope=BudgetScope.AGENT, agent=agent, limit_usd=Decimal("0"))
    BudgetFactory(workspace=gateway.workspace, scope=BudgetScope.AGENT, agent=other_agent, limit_usd=Decimal("0"))

    with pytest.raises(openai.RateLimitError) as raised:
        consensus(gateway, agent_secret, models=MODELS[:2])
    assert "the agent's monthly budget of $0 has $0 left" in raised.value.body["message"]
    # The workspace key runs as no agent, unless it names one.
    assert consensus(gateway, models=MODELS[:2]).status_code == 200
    named = post(gateway, {"messages": QUESTION, "models": MODELS[:2]}, **{"x-switchyard-agent": agent.slug})
    assert named.status_code == 429

    BudgetFactory(workspace=gateway.workspace, scope=BudgetScope.API_KEY, api_key=gateway.api_key, limit_usd=0)
    with pytest.raises(openai.RateLimitError) as raised:
        consensus(gateway, models=MODELS[:2])
    assert "the API key's monthly budget" in raised.value.body["message"]


def test_alert_and_downgrade_budgets_do_not_block(gateway):
    for action in (BudgetAction.ALERT, BudgetAction.DOWNGRADE):
        BudgetFactory(workspace=gateway.workspace, action=action, limit_usd=Decimal("0"))
    BudgetFactory(workspace=gateway.workspace, is_active=False, limit_usd=Decimal("0"))

    assert consensus(gateway, models=MODELS).status_code == 200


def test_the_agents_privacy_rule_holds(gateway):
    agent = AgentFactory(workspace=gateway.workspace, privacy_mode="always")
    _, secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, agent=agent)

    response = post(gateway, {"messages": QUESTION, "models": MODELS[:2]}, authorization=f"Bearer {secret}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "privacy_restricted"
    assert list(gateway.mock.state.requests) == []


def test_a_warm_request_reads_no_database_but_the_embedded_modes_counters(gateway, monkeypatch, settings):
    settings.GATEWAY_KEY_CACHE_SECONDS = 600  # a slow run must not see the caller's context expire mid-test
    BudgetFactory(workspace=gateway.workspace, limit_usd=Decimal("10"))
    consensus(gateway, models=MODELS)  # warms the caches
    gateway.records(expected=3)

    queries: list[str] = []
    original = CursorWrapper.execute

    def counting(self, sql, params=None):
        queries.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(usage_spool(), "ingest", lambda: 0)  # the background flush is off the request path
    monkeypatch.setattr(CursorWrapper, "execute", counting)
    consensus(gateway, models=MODELS)
    # With Redis the budget counters live there; in the embedded mode each call holds and settles under row locks.
    assert len(queries) == (0 if settings.REDIS_URL else 3 * 11)


def test_content_given_as_parts_is_read_as_text():
    def completion(content) -> Completion:
        body = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        return Completion(body=body, usage=Usage(1, 1), finish_reason="stop")

    assert _content_of(completion([{"type": "text", "text": "The answer "}, {"type": "text", "text": "is 42."}])) == (
        "The answer is 42."
    )
    assert _content_of(completion("42")) == "42"
    assert _content_of(completion(None)) == ""
