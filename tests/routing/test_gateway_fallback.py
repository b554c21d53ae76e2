"""An agent's fallback chain serves the call when the primary model fails before the first byte."""

import httpx
import openai
import pytest

from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, AgentFallbackFactory

HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def agent_client(gateway):
    agent = AgentFactory(workspace=gateway.workspace, primary_model=gateway.models["openai/gpt-4o-mini"])
    AgentFallbackFactory(agent=agent, model=gateway.models["anthropic/claude-haiku-4-5"], position=1)
    AgentFallbackFactory(agent=agent, model=gateway.models["gemini/gemini-2.5-flash"], position=2)
    _, secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, agent=agent, created_by=gateway.user)
    return openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)


def fail(gateway, upstream_model: str, fault: str) -> None:
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": upstream_model, "fault": fault, "times": 5})


@pytest.mark.parametrize("fault", ["429", "500", "529", "timeout", "context"])
def test_a_retryable_failure_on_the_primary_is_served_by_the_fallback(gateway, agent_client, settings, fault):
    settings.GATEWAY_UPSTREAM_READ_TIMEOUT = 0.5
    fail(gateway, "gpt-4o-mini", fault)
    completion = agent_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)

    assert completion.model == "anthropic/claude-haiku-4-5"
    record = gateway.record(completion.id)
    assert record.status == "success" and record.model_name == "anthropic/claude-haiku-4-5"
    assert [a["model"] for a in record.attempts] == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    assert record.attempts[0]["error"] in {"rate_limit", "server_error", "overloaded", "timeout", "context_length"}
    assert record.attempts[1]["status"] == 200
    model = gateway.models["anthropic/claude-haiku-4-5"]
    assert record.cost_usd == (
        record.prompt_tokens * model.input_price + record.completion_tokens * model.output_price
    ).quantize(record.cost_usd)


def test_the_chain_goes_on_until_a_model_answers_and_streams(gateway, agent_client):
    fail(gateway, "gpt-4o-mini", "500")
    fail(gateway, "claude-haiku-4-5", "529")
    chunks = list(
        agent_client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].model == "gemini/gemini-2.5-flash"
    record = gateway.record(chunks[0].id)
    assert [a["model"] for a in record.attempts] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "gemini/gemini-2.5-flash",
    ]
    assert record.streamed and record.status == "success"


def test_when_every_candidate_fails_the_last_error_is_returned(gateway, agent_client):
    for upstream in ("gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"):
        fail(gateway, upstream, "503")
    with pytest.raises(openai.InternalServerError) as raised:
        agent_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert raised.value.status_code == 502
    [record] = gateway.records()
    assert len(record.attempts) == 3 and record.status == "error"


def test_a_non_retryable_error_does_not_fall_back(gateway, agent_client):
    gateway.providers["openai"].platform_key = "invalid-key"
    gateway.providers["openai"].save()
    with pytest.raises(openai.APIStatusError) as raised:
        agent_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    message = raised.value.body["message"]
    assert message == "Provider error: OpenAI refused the platform's API key."
    assert "invalid-key" not in message
    [record] = gateway.records()
    assert [a["model"] for a in record.attempts] == ["openai/gpt-4o-mini"]
    assert record.attempts[0]["error"] == "auth"


def test_a_cut_stream_is_not_silently_switched(gateway, agent_client):
    fail(gateway, "gpt-4o-mini", "cut")
    stream = agent_client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "long enough to be cut into several pieces mid way"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        list(stream)
    [record] = gateway.records()
    assert [a["model"] for a in record.attempts] == ["openai/gpt-4o-mini"]
    assert record.error_type == "upstream_stream_cut"
