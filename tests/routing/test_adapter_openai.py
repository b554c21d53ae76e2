"""OpenAI-compatible adapter: request shaping per server flavour, stream decoding, usage and errors."""

import json
import pickle
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from apps.routing.adapters import UpstreamError, Usage, adapter_for
from apps.routing.adapters.openai import OpenAIAdapter
from apps.routing.mock.server import Behaviour, openai_reply

ADAPTER = adapter_for("openai")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def build(body: dict, *, options: dict | None = None, stream: bool = False, base_url: str = "https://api.x/v1", **kw):
    return ADAPTER.build_request(
        body=body,
        upstream_model=kw.pop("upstream_model", "gpt-4o-2024-08-06"),
        base_url=base_url,
        api_key="sk-up",
        extra_headers=kw.pop("extra_headers", {}),
        options=options or {},
        stream=stream,
    )


def feed_in_pieces(decoder, payload: bytes, seed: int) -> list[dict]:
    rng, chunks, start = random.Random(seed), [], 0
    while start < len(payload):
        size = rng.randint(1, 40)
        chunks += decoder.feed(payload[start : start + size])
        start += size
    return chunks + decoder.close()


def sse(*events: dict | str) -> bytes:
    return b"".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events)


def test_adapter_registry_returns_singletons():
    assert adapter_for("openai") is adapter_for("openai")
    assert isinstance(adapter_for("openai"), OpenAIAdapter)
    with pytest.raises(ValueError, match="no adapter for 'bedrock'"):
        adapter_for("bedrock")


def test_request_swaps_model_keeps_fields_and_sends_compact_json():
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 1.5,
        "extra": {"note": "gateway only"},
    }
    request = build(body, extra_headers={"OpenAI-Organization": "org-1"})

    assert request.url == "https://api.x/v1/chat/completions"
    assert request.headers == {
        "content-type": "application/json",
        "authorization": "Bearer sk-up",
        "OpenAI-Organization": "org-1",
    }
    assert request.stream is False
    assert request.body == (
        b'{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"Hi"}],"temperature":1.5}'
    )
    assert body["model"] == "gpt-4o"  # the caller's dict is left alone


def test_stream_always_asks_for_usage_and_keeps_client_stream_options():
    body = {"model": "m", "messages": [], "stream_options": {"include_obfuscation": False}}
    payload = json.loads(build(body, stream=True).body)
    assert payload["stream"] is True
    assert payload["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_stream_options_can_be_turned_off_for_servers_that_reject_them():
    body = {"model": "m", "messages": [], "stream_options": {"include_usage": True}}
    payload = json.loads(build(body, stream=True, options={"stream_options": False}).body)
    assert payload["stream"] is True
    assert "stream_options" not in payload


def test_non_stream_request_drops_stream_fields():
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    payload = json.loads(build(body, stream=False).body)
    assert "stream" not in payload and "stream_options" not in payload


@pytest.mark.parametrize(
    ("options", "version"),
    [({"azure": True}, "2024-10-21"), ({"azure": {"api_version": "2025-01-01-preview"}}, "2025-01-01-preview")],
)
def test_azure_deployment_url_and_api_key_header(options, version):
    request = build(
        {"model": "gpt-4o", "messages": []},
        options=options,
        base_url="https://res.openai.azure.com/",
        upstream_model="my deploy",
    )
    assert request.url == (
        f"https://res.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version={version}"
    )
    assert request.headers["api-key"] == "sk-up"
    assert "authorization" not in request.headers


def test_openrouter_attribution_headers_and_routing_fields():
    options = {
        "openrouter": {
            "referer": "https://switchyard.example",
            "title": "Switchyard",
            "models": ["a/default"],
            "provider": {"sort": "price"},
        }
    }
    body = {"model": "m", "messages": [], "extra": {"models": ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]}}
    request = build(body, options=options, base_url="https://openrouter.ai/api/v1")
    payload = json.loads(request.body)

    assert request.url == "https://openrouter.ai/api/v1/chat/completions"
    assert request.headers["http-referer"] == "https://switchyard.example"
    assert request.headers["x-openrouter-title"] == "Switchyard"
    assert request.headers["x-title"] == "Switchyard"
    assert payload["models"] == ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]  # the request's own wins
    assert payload["provider"] == {"sort": "price"}  # the provider default fills in
    assert "extra" not in payload


def test_cache_control_kept_for_openrouter_and_dropped_elsewhere():
    part = {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
    body = {"model": "m", "messages": [{"role": "system", "content": [part]}]}

    kept = json.loads(build(body, options={"openrouter": True}).body)
    dropped = json.loads(build(body).body)

    assert kept["messages"][0]["content"] == [part]
    assert dropped["messages"][0]["content"] == [{"type": "text", "text": "long context"}]


def test_long_tool_call_ids_are_shortened_consistently():
    long_id = "call_0123456789ab_ts_" + "A" * 60
    body = {
        "model": "m",
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [{"id": long_id, "type": "function", "function": {}}]},
            {"role": "tool", "tool_call_id": long_id, "content": "18C"},
            {"role": "tool", "tool_call_id": "call_short", "content": "x"},
        ],
    }
    messages = json.loads(build(body).body)["messages"]
    short = messages[0]["tool_calls"][0]["id"]
    assert short.startswith("call_") and len(short) == 37
    assert messages[1]["tool_call_id"] == short
    assert messages[2]["tool_call_id"] == "call_short"


def test_parse_response_reports_usage_with_cache_and_reasoning():
    payload = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 30,
            "total_tokens": 130,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    }
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="openai/gpt-4o")
    assert completion.body["model"] == "openai/gpt-4o"
    assert completion.body["choices"][0]["message"]["content"] == "Hi"
    assert completion.finish_reason == "length"
    assert completion.usage == Usage(prompt_tokens=100, completion_tokens=30, cached_tokens=64, reasoning_tokens=12)


def test_parse_response_reads_deepseek_cache_hits_and_openrouter_cache_writes():
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 20,
        "prompt_tokens_details": {"cache_write_tokens": 10},
    }
    payload = {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}], "usage": usage}
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="m")
    assert completion.usage == Usage(prompt_tokens=50, completion_tokens=5, cached_tokens=20, cache_write_tokens=10)


def test_a_200_with_an_error_body_raises_upstream_error():
    payload = b'{"error":{"code":502,"message":"Provider returned error"}}'
    with pytest.raises(UpstreamError) as raised:
        ADAPTER.parse_response(payload=payload, model="m")
    assert (raised.value.status, raised.value.kind, raised.value.retryable) == (502, "server_error", True)


def test_a_200_with_invalid_json_is_a_server_error():
    with pytest.raises(UpstreamError) as raised:
        ADAPTER.parse_response(payload=b"<html>bad gateway</html>", model="m")
    assert raised.value.kind == "server_error"
    assert "<html>bad gateway</html>" in raised.value.message


def test_stream_decoder_swallows_usage_chunk_and_restamps_chunks():
    base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    payload = sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None},
        {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}], "usage": None},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}}], "usage": None},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
        },
        "[DONE]",
    )
    decoder = ADAPTER.stream_decoder(model="openai/gpt-4o", completion_id="gen-123")
    chunks = feed_in_pieces(decoder, payload, seed=3)

    assert len(chunks) == 4
    assert {c["id"] for c in chunks} == {"gen-123"}
    assert {c["model"] for c in chunks} == {"openai/gpt-4o"}
    assert all("usage" not in c for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello"
    assert decoder.usage == Usage(prompt_tokens=9, completion_tokens=2, cached_tokens=4)
    assert decoder.finish_reason == "stop"
    assert decoder.done is True
    assert decoder.error is None


def test_stream_decoder_reports_a_mid_stream_error_and_skips_keepalives():
    payload = (
        b": OPENROUTER PROCESSING\n\n"
        + sse({"id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}}]})
        + sse({"error": {"code": 429, "message": "Rate limited upstream"}})
    )
    decoder = ADAPTER.stream_decoder(model="m", completion_id="gen-1")
    chunks = feed_in_pieces(decoder, payload, seed=1)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"content": "Hi"}]
    assert decoder.error.args == (429, "rate_limit", "Rate limited upstream", None, True)
    assert decoder.done is False
    assert decoder.usage is None


def test_upstream_error_is_a_hashable_picklable_exception():
    error = ADAPTER.parse_error(status=503, payload=b'{"error":{"message":"busy"}}', headers={})
    copy = pickle.loads(pickle.dumps(error))
    assert {error: 1}[error] == 1
    assert copy.args == (503, "overloaded", "busy", None, True)
    assert str(copy) == "503 overloaded: busy"
    with pytest.raises(UpstreamError, match="503 overloaded: busy"):
        raise error


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable", "retry_after"),
    [
        (
            429,
            {"error": {"message": "slow", "code": "rate_limit_exceeded"}},
            {"Retry-After": "2"},
            "rate_limit",
            True,
            2,
        ),
        (429, {"error": {"message": "slow"}}, {"retry-after-ms": "1500", "retry-after": "9"}, "rate_limit", True, 1.5),
        (500, {"error": {"message": "boom", "type": "server_error"}}, {}, "server_error", True, None),
        (502, {"error": {"message": "bad gateway"}}, {}, "server_error", True, None),
        (503, {"error": {"message": "slow down"}}, {}, "overloaded", True, None),
        (504, {"error": {"message": "timeout"}}, {}, "timeout", True, None),
        (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, {}, "context_length", True, None),
        (
            400,
            {"error": {"message": "This model's maximum context length is 8192 tokens"}},
            {},
            "context_length",
            True,
            None,
        ),
        (400, {"error": {"message": "bad temperature", "param": "temperature"}}, {}, "bad_request", False, None),
        (401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}, {}, "auth", False, None),
        (403, {"error": {"message": "region"}}, {}, "permission", False, None),
        (404, {"error": {"message": "no model", "code": "model_not_found"}}, {}, "not_found", False, None),
        (422, {"detail": "field required"}, {}, "bad_request", False, None),
    ],
)
def test_error_mapping(status, body, headers, kind, retryable, retry_after):
    error = ADAPTER.parse_error(status=status, payload=json.dumps(body).encode(), headers=headers)
    assert (error.status, error.kind, error.retryable, error.retry_after) == (status, kind, retryable, retry_after)
    assert error.message == (body.get("detail") or body["error"]["message"])


def test_retry_after_as_http_date_and_plain_text_body():
    error = ADAPTER.parse_error(status=429, payload=b"Too Many Requests", headers={"retry-after": _http_date(30)})
    assert error.kind == "rate_limit"
    assert error.message == "Too Many Requests"
    assert 28 <= error.retry_after <= 30


# --- against the mock provider over real HTTP ------------------------------------------------------------------


def _send(request) -> httpx.Response:
    return httpx.post(request.url, headers=request.headers, content=request.body, timeout=10)


def test_end_to_end_tool_call_then_answer(mock_provider):
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}
    request = build(ask, base_url=f"{mock_provider.url}/v1", upstream_model="gpt-4o-mini")
    response = _send(request)
    assert response.status_code == 200
    first = ADAPTER.parse_response(payload=response.content, model="openai/gpt-4o")
    expected = openai_reply(mock_provider.state.requests[-1]["body"], Behaviour())

    call = first.body["choices"][0]["message"]["tool_calls"][0]
    assert mock_provider.state.requests[-1]["body"]["model"] == "gpt-4o-mini"
    assert first.finish_reason == "tool_calls"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "city-sample"}
    assert first.usage == Usage(expected.prompt_tokens, expected.completion_tokens)

    follow_up = {
        **ask,
        "messages": [
            *ask["messages"],
            first.body["choices"][0]["message"],
            {"role": "tool", "tool_call_id": call["id"], "content": "18C sunny"},
        ],
    }
    second_request = build(follow_up, base_url=f"{mock_provider.url}/v1", upstream_model="gpt-4o-mini")
    second = ADAPTER.parse_response(payload=_send(second_request).content, model="openai/gpt-4o")
    assert second.finish_reason == "stop"
    assert second.body["choices"][0]["message"]["content"].startswith("Mock answer")


@pytest.mark.parametrize("seed", range(3))
def test_end_to_end_stream_with_cached_tokens(mock_provider, seed):
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about the river Seine"}]}
    request = build(
        ask,
        stream=True,
        base_url=f"{mock_provider.url}/v1",
        upstream_model="gpt-4o-mini",
        extra_headers={"x-mock-cached-tokens": "3"},
    )
    response = _send(request)
    decoder = ADAPTER.stream_decoder(model="openai/gpt-4o", completion_id="gen-e2e")
    chunks = feed_in_pieces(decoder, response.content, seed)
    sent = mock_provider.state.requests[-1]["body"]
    expected = openai_reply(sent, Behaviour(cached_tokens=3))

    assert sent["stream_options"] == {"include_usage": True}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == expected.text
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert decoder.usage == Usage(expected.prompt_tokens, expected.completion_tokens, cached_tokens=3)
    assert decoder.finish_reason == "stop"
    assert decoder.done is True


def test_end_to_end_stream_tool_call_deltas(mock_provider):
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER_TOOL]}
    request = build(ask, stream=True, base_url=f"{mock_provider.url}/v1", upstream_model="gpt-4o-mini")
    decoder = ADAPTER.stream_decoder(model="openai/gpt-4o", completion_id="gen-e2e")
    chunks = feed_in_pieces(decoder, _send(request).content, seed=11)

    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"city": "city-sample"}
    assert decoder.finish_reason == "tool_calls"


def test_end_to_end_429_maps_to_rate_limit_with_retry_after(mock_provider):
    request = build(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
        base_url=f"{mock_provider.url}/v1",
        extra_headers={"x-mock-fault": "429"},
    )
    response = _send(request)
    error = ADAPTER.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    assert (error.status, error.kind, error.retry_after, error.retryable) == (429, "rate_limit", 1.0, True)
    assert error.message == "Mock fault 429"
