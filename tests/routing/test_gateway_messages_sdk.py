"""/v1/messages driven by the official anthropic SDK, for models of every adapter."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

MODELS = ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini", "gemini/gemini-2.5-flash"]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(gateway, api_key=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key or gateway.secret, max_retries=0)


@pytest.mark.parametrize("model_id", MODELS)
def test_message_is_recorded_and_costed(gateway, model_id):
    raw = client(gateway).messages.with_raw_response.create(
        model=model_id, max_tokens=200, system="Be brief.", messages=[{"role": "user", "content": "Hello"}]
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text.startswith("Mock answer")
    assert message.stop_reason == "end_turn"
    assert message.model == model_id

    record = gateway.record(raw.headers["x-switchyard-generation-id"])
    model = gateway.models[model_id]
    prompt = message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
    assert record.endpoint == "messages" and record.status == "success"
    assert record.prompt_tokens == prompt and record.completion_tokens == message.usage.output_tokens
    expected = prompt * model.input_price + message.usage.output_tokens * model.output_price
    assert record.cost_usd == expected.quantize(Decimal("1e-10"))
    assert Decimal(raw.headers["x-switchyard-cost"]) == record.cost_usd


@pytest.mark.parametrize("model_id", MODELS)
def test_streamed_tool_use(gateway, model_id):
    with client(gateway).messages.stream(
        model=model_id, max_tokens=200, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        final = stream.get_final_message()
    tool_use = [block for block in final.content if block.type == "tool_use"]
    assert final.stop_reason == "tool_use"
    assert tool_use[0].name == "get_weather" and tool_use[0].input == {"city": "city-sample"}
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model_id", MODELS)
def test_tool_result_round_trip(gateway, model_id):
    sdk = client(gateway)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = sdk.messages.create(model=model_id, max_tokens=200, tools=[WEATHER_TOOL], messages=messages)
    tool_use = next(block for block in first.content if block.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]},
    ]
    second = sdk.messages.create(model=model_id, max_tokens=200, tools=[WEATHER_TOOL], messages=messages)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text.startswith("Mock answer")


def test_cached_tokens_are_counted_at_their_own_price(gateway):
    gateway_provider = gateway.providers["anthropic"]
    gateway_provider.extra_headers = {"x-mock-cached-tokens": "30", "x-mock-cache-write-tokens": "10"}
    gateway_provider.save()
    raw = client(gateway).messages.with_raw_response.create(
        model="anthropic/claude-haiku-4-5",
        max_tokens=100,
        system="A long shared system prompt. " * 20,
        messages=[{"role": "user", "content": "Hi"}],
    )
    message = raw.parse()
    assert message.usage.cache_read_input_tokens == 30
    assert message.usage.cache_creation_input_tokens == 10
    record = gateway.record(raw.headers["x-switchyard-generation-id"])
    model = gateway.models["anthropic/claude-haiku-4-5"]
    assert record.cached_tokens == 30 and record.cache_write_tokens == 10
    expected = (
        message.usage.input_tokens * model.input_price
        + 30 * model.cache_read_price
        + 10 * model.cache_write_price
        + message.usage.output_tokens * model.output_price
    )
    assert record.cost_usd == expected.quantize(Decimal("1e-10"))


def test_errors_use_anthropics_shape(gateway):
    with pytest.raises(anthropic.AuthenticationError):
        client(gateway, api_key="sk-sy-wrong").messages.create(
            model="anthropic/claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.NotFoundError) as raised:
        client(gateway).messages.create(model="nope/none", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "not_found_error"

    response = httpx.post(
        f"{gateway.url}/v1/messages",
        json={"model": "anthropic/claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": gateway.secret, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in response.json()["error"]["message"]


def test_upstream_overload_maps_to_a_retryable_status(gateway):
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": "claude-haiku-4-5", "fault": "529", "times": 1})
    with pytest.raises(anthropic.APIStatusError) as raised:
        client(gateway).messages.create(
            model="anthropic/claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.status_code == 502
    [record] = gateway.records()
    assert record.error_type == "upstream_overloaded"


def test_a_streamed_message_ends_with_its_cost(gateway):
    body = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    headers = {"x-api-key": gateway.secret, "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers)
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    delta = next(e for e in events if e["type"] == "message_delta")
    record = gateway.record(response.headers["x-switchyard-generation-id"])
    assert record.streamed and record.cost_usd > 0
    assert delta["usage"]["cost"] == pytest.approx(float(record.cost_usd))
    assert delta["usage"]["output_tokens"] == record.completion_tokens
