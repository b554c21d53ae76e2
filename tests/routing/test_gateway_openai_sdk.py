"""/v1/chat/completions driven by the official openai SDK, through each adapter, against the mock over HTTP."""

import json
from decimal import Decimal

import httpx
import openai
import pytest

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]


def client(gateway, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=kwargs.pop("api_key", gateway.secret), max_retries=0, **kwargs)


def expected_cost(gateway, model_id: str, prompt: int, completion: int, cached: int = 0, cache_write: int = 0):
    model = gateway.models[model_id]
    cache_read_price = model.cache_read_price if model.cache_read_price is not None else model.input_price
    cache_write_price = model.cache_write_price if model.cache_write_price is not None else model.input_price
    return (
        (prompt - cached - cache_write) * model.input_price
        + cached * cache_read_price
        + cache_write * cache_write_price
        + completion * model.output_price
    )


@pytest.mark.parametrize("model_id", MODELS)
def test_plain_completion_is_recorded_and_costed(gateway, model_id):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model=model_id, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    )
    completion = raw.parse()

    assert completion.choices[0].message.content.startswith("Mock answer")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == model_id
    assert raw.headers["x-switchyard-generation-id"] == completion.id
    assert raw.headers["x-switchyard-model"] == model_id
    assert raw.headers["x-switchyard-provider"] == model_id.split("/")[0]

    record = gateway.record(completion.id)
    cost = expected_cost(gateway, model_id, completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert record.status == "success" and record.http_status == 200
    assert record.model_name == model_id and record.provider_slug == model_id.split("/")[0]
    assert record.prompt_tokens == completion.usage.prompt_tokens > 0
    assert record.completion_tokens == completion.usage.completion_tokens > 0
    assert record.cost_usd == cost.quantize(Decimal("1e-10"))
    assert Decimal(raw.headers["x-switchyard-cost"]) == record.cost_usd
    assert Decimal(str(completion.usage.model_extra["cost"])) == pytest.approx(record.cost_usd)
    assert record.is_byok is False and record.streamed is False
    assert record.api_key_id == gateway.api_key.pk and record.workspace_id == gateway.workspace.pk
    # What the provider received: its own wire format, the upstream model name, the platform key.
    sent = gateway.mock.state.requests[-1]
    assert sent["model"] == model_id.split("/", 1)[1]
    assert sent["api_key"].startswith(("sk-platform", "platform"))


@pytest.mark.parametrize("model_id", MODELS)
def test_stream_with_usage_matches_the_record(gateway, model_id):
    stream = client(gateway).chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Stream me a short answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage

    assert text.startswith("Mock answer")
    assert chunks[-1].choices == []
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    record = gateway.record(chunks[0].id)
    assert record.streamed is True and record.status == "success"
    assert (record.prompt_tokens, record.completion_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    cost = expected_cost(gateway, model_id, usage.prompt_tokens, usage.completion_tokens)
    assert record.cost_usd == cost.quantize(Decimal("1e-10"))
    assert record.ttft_ms is not None and record.finish_reason == "stop"


def test_stream_without_include_usage_still_counts_tokens(gateway):
    stream = client(gateway).chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    record = gateway.record(chunks[0].id)
    assert record.prompt_tokens > 0 and record.completion_tokens > 0 and record.cost_usd > 0
    # The gateway asked the upstream for usage even though the client did not.
    assert gateway.mock.state.requests[-1]["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("model_id", MODELS)
def test_tool_call_round_trip(gateway, model_id):
    sdk = client(gateway)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = sdk.chat.completions.create(model=model_id, messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "city-sample"}

    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    second = sdk.chat.completions.create(model=model_id, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("Mock answer")


@pytest.mark.parametrize("model_id", MODELS)
def test_streamed_tool_call(gateway, model_id):
    stream = client(gateway).chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER_TOOL], stream=True
    )
    arguments, names = "", []
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                names += [call.function.name] if call.function and call.function.name else []
                arguments += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "city-sample"}
    assert finish == "tool_calls"


@pytest.mark.parametrize("model_id", MODELS)
def test_json_schema_response(gateway, model_id):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}}}
    completion = client(gateway).chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Give me JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "result", "schema": schema}},
    )
    assert json.loads(completion.choices[0].message.content) == {"answer": "answer-sample", "score": 1}


def test_gemini_3_thought_signatures_survive_the_openai_format(gateway):
    sdk = client(gateway)
    messages = [{"role": "user", "content": "Weather?"}]
    first = sdk.chat.completions.create(model="gemini/gemini-3-pro", messages=messages, tools=[WEATHER_TOOL])
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": first.choices[0].message.tool_calls[0].id, "content": "18C"})
    second = sdk.chat.completions.create(model="gemini/gemini-3-pro", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content.startswith("Mock answer")


def test_image_parts_reach_the_provider(gateway):
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    image = f"data:image/png;base64,{pixel}"
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": image}}]
    client(gateway).chat.completions.create(
        model="anthropic/claude-haiku-4-5", messages=[{"role": "user", "content": content}]
    )
    sent = gateway.mock.state.requests[-1]["body"]["messages"][0]["content"]
    assert sent[1]["type"] == "image" and sent[1]["source"]["type"] == "base64"


def test_bare_upstream_name_finds_the_installed_model(gateway):
    completion = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.model == "openai/gpt-4o-mini"


# --- errors --------------------------------------------------------------------------------------------------


def test_unknown_key_is_401(gateway):
    with pytest.raises(openai.AuthenticationError) as raised:
        client(gateway, api_key="sk-sy-not-a-real-key").chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    assert raised.value.body["code"] == "invalid_api_key"


def test_revoked_and_expired_keys_are_401(gateway):
    from datetime import timedelta

    from django.utils import timezone

    from apps.keys.services import api_key_revoke
    from apps.routing.gateway import context
    from tests.keys.factories import ApiKeyFactory

    _, expired = ApiKeyFactory.create_with_secret(
        workspace=gateway.workspace, expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(openai.AuthenticationError):
        client(gateway, api_key=expired).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    sdk = client(gateway)
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    api_key_revoke(api_key=gateway.api_key)
    context.clear_caches()  # what the cache TTL does within GATEWAY_KEY_CACHE_SECONDS
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])


@pytest.mark.parametrize("name", ["nope/nothing", "nope/a\x00b"])
def test_model_not_in_catalog_is_404(gateway, name):
    with pytest.raises(openai.NotFoundError) as raised:
        client(gateway).chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.body["code"] == "model_not_found"
    assert raised.value.body["param"] == "model"


def test_model_not_installed_or_not_allowed_is_403(gateway):
    from apps.workspaces.models import ModelAccess
    from tests.catalog.factories import ModelFactory

    extra = ModelFactory(provider=gateway.providers["openai"], model_id="openai/gpt-4o", upstream_name="gpt-4o")
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client(gateway).chat.completions.create(model=extra.model_id, messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.body["code"] == "model_not_installed"

    plan = gateway.workspace.plan
    plan.model_access = ModelAccess.DEFAULT
    plan.save()
    from apps.routing.gateway import context

    context.clear_caches()
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client(gateway).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    assert raised.value.body["code"] == "model_not_allowed"
    assert plan.name in raised.value.body["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "openai/gpt-4o-mini", "messages": []}, "messages"),
        ({"model": "openai/gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "openai/gpt-4o-mini", "messages": "hello"}, "messages"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
            "temperature",
        ),
        (
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
            "max_tokens",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field_and_charges_nothing(gateway, body, param):
    response = httpx.post(
        f"{gateway.v1}/chat/completions", json=body, headers={"authorization": f"Bearer {gateway.secret}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert gateway.mock.state.requests == type(gateway.mock.state.requests)()
    [record] = gateway.records()
    assert record.status == "error" and record.http_status == 400 and record.cost_usd is None


def test_malformed_json_is_400(gateway):
    response = httpx.post(
        f"{gateway.v1}/chat/completions", content=b"{not json", headers={"authorization": f"Bearer {gateway.secret}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_body_over_the_limit_is_413(gateway, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    big = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = httpx.post(
        f"{gateway.v1}/chat/completions", json=big, headers={"authorization": f"Bearer {gateway.secret}"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def mock_fault(gateway, upstream_model: str, fault: str, times: int = 1) -> None:
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": upstream_model, "fault": fault, "times": times})


@pytest.mark.parametrize(
    ("fault", "exception", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 502),
        ("503", openai.InternalServerError, 502),
        ("529", openai.InternalServerError, 502),
        ("context", openai.BadRequestError, 400),
    ],
)
@pytest.mark.parametrize("model_id", MODELS)
def test_upstream_errors_are_mapped_and_recorded(gateway, model_id, fault, exception, status):
    mock_fault(gateway, model_id.split("/", 1)[1], fault)
    with pytest.raises(exception) as raised:
        client(gateway).chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.status_code == status
    if fault == "429":
        assert raised.value.response.headers["retry-after"] == "1"
    if fault == "context":
        assert raised.value.body["code"] == "context_length_exceeded"
    [record] = gateway.records()
    assert record.status == "error" and record.http_status == status
    assert record.cost_usd is None and record.prompt_tokens == 0
    assert record.attempts[0]["model"] == model_id and record.attempts[0]["status"] == int(
        fault if fault.isdigit() else 400
    )


def test_upstream_timeout_is_504(gateway, settings):
    settings.GATEWAY_UPSTREAM_READ_TIMEOUT = 0.3
    mock_fault(gateway, "gpt-4o-mini", "timeout")
    with pytest.raises(openai.APIStatusError) as raised:
        client(gateway).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    assert raised.value.status_code == 504
    [record] = gateway.records()
    assert record.http_status == 504 and record.error_type == "upstream_timeout"


def test_cut_stream_ends_with_an_error_event_and_is_recorded(gateway):
    mock_fault(gateway, "gpt-4o-mini", "cut")
    stream = client(gateway).chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "a long enough prompt so the stream has many chunks to cut"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received, "some chunks arrived before the cut"
    [record] = gateway.records()
    assert record.status == "error" and record.streamed
    assert record.error_type == "upstream_stream_cut"
    assert record.completion_tokens >= 0 and record.prompt_tokens > 0


def test_a_client_that_hangs_up_mid_stream_gets_a_cancelled_record(gateway):
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": "gpt-4o-mini", "chunk_delay_ms": 100})
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "a slow stream"}], "stream": True}
    headers = {"authorization": f"Bearer {gateway.secret}"}
    with httpx.stream("POST", f"{gateway.v1}/chat/completions", json=body, headers=headers) as response:
        first = next(response.iter_lines())
        generation_id = response.headers["x-switchyard-generation-id"]
    assert first.startswith("data: ")
    record = gateway.record(generation_id)
    assert record.status == "cancelled" and record.http_status == 499 and record.streamed
    assert record.prompt_tokens > 0  # estimated: the upstream never sent its usage


def test_bad_input_raises_the_sdks_bad_request_error(gateway):
    with pytest.raises(openai.BadRequestError) as raised:
        client(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=[])
    assert raised.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as raised:
        client(gateway).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], temperature=7
        )
    assert raised.value.body["param"] == "temperature"
