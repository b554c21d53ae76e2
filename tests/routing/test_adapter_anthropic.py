"""Anthropic Messages adapter: OpenAI requests in, Messages out, and back (responses, streams, errors)."""

import json
import random

import httpx
import pytest

from apps.routing.adapters import InvalidRequest, Usage, adapter_for
from apps.routing.mock.server import Behaviour, anthropic_reply

ADAPTER = adapter_for("anthropic")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def build(
    body: dict, *, options: dict | None = None, stream: bool = False, base_url: str = "https://api.anthropic.com/"
):
    request = ADAPTER.build_request(
        body=body,
        upstream_model="claude-sonnet-4-5-20250929",
        base_url=base_url,
        api_key="sk-ant",
        extra_headers={},
        options=options or {},
        stream=stream,
    )
    return request, json.loads(request.body)


def feed_in_pieces(decoder, payload: bytes, seed: int) -> list[dict]:
    rng, chunks, start = random.Random(seed), [], 0
    while start < len(payload):
        size = rng.randint(1, 40)
        chunks += decoder.feed(payload[start : start + size])
        start += size
    return chunks + decoder.close()


def events(*items: dict) -> bytes:
    return b"".join(f"event: {item['type']}\ndata: {json.dumps(item)}\n\n".encode() for item in items)


def test_url_headers_system_and_generation_settings():
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
        ],
        "max_completion_tokens": 300,
        "stop": "END",
        "temperature": 1.7,
        "top_p": 0.9,
        "user": "user-42",
    }
    request, payload = build(body, stream=True)

    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers == {
        "content-type": "application/json",
        "x-api-key": "sk-ant",
        "anthropic-version": "2023-06-01",
    }
    assert payload == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "system": "Be brief.\n\nAnswer in French.",
        "stop_sequences": ["END"],
        "temperature": 1.0,
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }


@pytest.mark.parametrize(
    ("body", "options", "expected"),
    [
        ({"max_tokens": 50}, {}, 50),
        ({}, {}, 4096),
        ({}, {"max_output_tokens": 64000}, 64000),
    ],
)
def test_max_tokens_is_always_sent(body, options, expected):
    _, payload = build({"messages": [{"role": "user", "content": "x"}], **body}, options=options)
    assert payload["max_tokens"] == expected


def test_multi_turn_tool_use_groups_tool_results_into_one_user_turn():
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "25C"}]},
            {"role": "user", "content": "And tomorrow?"},
        ],
        "tools": [WEATHER_TOOL],
    }
    _, payload = build(body)

    assert payload["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "25C"}]},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert payload["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert "tool_choice" not in payload


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, None),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice_mapping(tool_choice, parallel, expected):
    body = {"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL], "tool_choice": tool_choice}
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    _, payload = build(body)
    assert payload.get("tool_choice") == expected


def test_images_from_data_urls_and_http_urls():
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
    ]
    _, payload = build({"messages": [{"role": "user", "content": content}]})
    assert payload["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_json_schema_response_format_becomes_a_system_instruction():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}},
    }
    _, payload = build(body)
    assert payload["system"] == (
        "Be brief.\n\nRespond with a single JSON object that matches this JSON Schema, and nothing else: "
        '{"type":"object","properties":{"n":{"type":"integer"}}}'
    )


def test_cache_control_on_system_parts_sends_system_blocks():
    part = {"type": "text", "text": "Long manual", "cache_control": {"type": "ephemeral"}}
    _, payload = build({"messages": [{"role": "system", "content": [part]}, {"role": "user", "content": "x"}]})
    assert payload["system"] == [part]


def test_top_p_is_sent_only_without_temperature():
    _, payload = build({"messages": [{"role": "user", "content": "x"}], "top_p": 0.5})
    assert payload["top_p"] == 0.5
    assert "temperature" not in payload


def test_tool_ids_from_other_servers_are_made_valid_for_messages():
    call = {"id": "functions.get_weather:0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "ok"},
        ]
    }
    _, payload = build(body)
    assert payload["messages"][1]["content"][0]["id"] == "functions_get_weather_0"
    assert payload["messages"][2]["content"][0]["tool_use_id"] == "functions_get_weather_0"


def test_invalid_tool_arguments_name_the_field():
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}
    body = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]}
    with pytest.raises(InvalidRequest) as raised:
        build(body)
    assert raised.value.param == "messages[1].tool_calls[0].function.arguments"


def test_parse_response_text_tool_use_and_cached_usage():
    payload = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "text", "text": "Checking "},
            {"type": "text", "text": "now."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 40,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 100,
        },
    }
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="anthropic/claude-sonnet-4-5")

    assert completion.usage == Usage(prompt_tokens=150, completion_tokens=40, cached_tokens=100, cache_write_tokens=30)
    assert completion.finish_reason == "tool_calls"
    assert completion.body["id"] == "chatcmpl-msg_01"
    assert completion.body["model"] == "anthropic/claude-sonnet-4-5"
    assert completion.body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Checking now.",
        "refusal": None,
        "tool_calls": [
            {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    assert completion.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 30}


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reasons(stop_reason, finish_reason):
    payload = {"id": "m", "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason, "usage": {}}
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="m")
    assert completion.finish_reason == finish_reason
    assert completion.body["choices"][0]["finish_reason"] == finish_reason


STREAM = events(
    {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "content": [],
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 50},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 42}},
    {"type": "message_stop"},
)


@pytest.mark.parametrize("seed", range(5))
def test_stream_decoder_text_and_tool_call_deltas(seed):
    decoder = ADAPTER.stream_decoder(model="anthropic/claude-sonnet-4-5", completion_id="gen-9")
    chunks = feed_in_pieces(decoder, STREAM, seed)

    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {
            "tool_calls": [
                {"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "tool_calls"
    assert {(c["id"], c["model"], c["object"]) for c in chunks} == {
        ("gen-9", "anthropic/claude-sonnet-4-5", "chat.completion.chunk")
    }
    assert decoder.usage == Usage(prompt_tokens=75, completion_tokens=42, cached_tokens=50)
    assert decoder.finish_reason == "tool_calls"
    assert decoder.done is True
    assert decoder.error is None


def test_stream_error_event_mid_stream():
    payload = events(
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    decoder = ADAPTER.stream_decoder(model="m", completion_id="gen")
    chunks = feed_in_pieces(decoder, payload, seed=2)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]
    assert decoder.error.args == (529, "overloaded", "Overloaded", None, True)
    assert decoder.done is False
    assert decoder.usage == Usage(prompt_tokens=5, completion_tokens=1)


@pytest.mark.parametrize(
    ("status", "error", "headers", "kind", "retryable", "retry_after"),
    [
        (429, {"type": "rate_limit_error", "message": "slow"}, {"retry-after": "7"}, "rate_limit", True, 7.0),
        (529, {"type": "overloaded_error", "message": "Overloaded"}, {}, "overloaded", True, None),
        (500, {"type": "api_error", "message": "Internal"}, {}, "server_error", True, None),
        (504, {"type": "timeout_error", "message": "slow"}, {}, "timeout", True, None),
        (
            400,
            {"type": "invalid_request_error", "message": "prompt is too long: 208310 tokens > 200000 maximum"},
            {},
            "context_length",
            True,
            None,
        ),
        (
            400,
            {"type": "invalid_request_error", "message": "max_tokens: Field required"},
            {},
            "bad_request",
            False,
            None,
        ),
        (401, {"type": "authentication_error", "message": "invalid x-api-key"}, {}, "auth", False, None),
        (403, {"type": "permission_error", "message": "no"}, {}, "permission", False, None),
        (404, {"type": "not_found_error", "message": "model: x"}, {}, "not_found", False, None),
    ],
)
def test_error_mapping(status, error, headers, kind, retryable, retry_after):
    body = json.dumps({"type": "error", "error": error, "request_id": "req_1"}).encode()
    mapped = ADAPTER.parse_error(status=status, payload=body, headers=headers)
    assert mapped.args == (status, kind, error["message"], retry_after, retryable)


# --- against the mock provider over real HTTP ------------------------------------------------------------------


def _send(request) -> httpx.Response:
    return httpx.post(request.url, headers=request.headers, content=request.body, timeout=10)


def test_end_to_end_message_with_cache_accounting(mock_provider):
    body = {
        "messages": [{"role": "system", "content": "Be brief. " * 30}, {"role": "user", "content": "Hello"}],
        "max_tokens": 200,
    }
    request = ADAPTER.build_request(
        body=body,
        upstream_model="claude-haiku-4-5",
        base_url=mock_provider.url,
        api_key="sk-ant",
        extra_headers={"x-mock-cached-tokens": "40", "x-mock-cache-write-tokens": "10"},
        options={},
        stream=False,
    )
    response = _send(request)
    assert response.status_code == 200
    completion = ADAPTER.parse_response(payload=response.content, model="anthropic/claude-haiku-4-5")
    expected = anthropic_reply(
        mock_provider.state.requests[-1]["body"], Behaviour(cached_tokens=40, cache_write_tokens=10)
    )

    assert completion.body["choices"][0]["message"]["content"] == expected.text
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(
        prompt_tokens=expected.prompt_tokens,
        completion_tokens=expected.completion_tokens,
        cached_tokens=40,
        cache_write_tokens=10,
    )
    assert completion.usage.prompt_tokens == response.json()["usage"]["input_tokens"] + 50


@pytest.mark.parametrize("seed", range(3))
def test_end_to_end_stream_tool_use_then_answer(mock_provider, seed):
    ask = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}
    request, _ = build(ask, stream=True, base_url=mock_provider.url)
    decoder = ADAPTER.stream_decoder(model="anthropic/claude-sonnet-4-5", completion_id="gen-e2e")
    chunks = feed_in_pieces(decoder, _send(request).content, seed)
    expected = anthropic_reply(mock_provider.state.requests[-1]["body"], Behaviour())

    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["id"] == expected.tool_calls[0]["id"].replace("call_", "toolu_")
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(tc["function"]["arguments"] for tc in calls)
    assert json.loads(arguments) == {"city": "city-sample"}
    assert decoder.finish_reason == "tool_calls"
    assert decoder.usage == Usage(expected.prompt_tokens, expected.completion_tokens)

    follow_up = {
        **ask,
        "messages": [
            *ask["messages"],
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": calls[0]["id"],
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C sunny"},
        ],
    }
    request, _ = build(follow_up, stream=True, base_url=mock_provider.url)
    decoder = ADAPTER.stream_decoder(model="anthropic/claude-sonnet-4-5", completion_id="gen-e2e-2")
    chunks = feed_in_pieces(decoder, _send(request).content, seed)
    expected = anthropic_reply(mock_provider.state.requests[-1]["body"], Behaviour())

    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == expected.text
    assert expected.text.startswith("Mock answer")
    assert decoder.finish_reason == "stop"
    assert decoder.usage == Usage(expected.prompt_tokens, expected.completion_tokens)
    assert decoder.done is True


def test_end_to_end_max_tokens_gives_length(mock_provider):
    request, _ = build(
        {"messages": [{"role": "user", "content": "a long answer please"}], "max_tokens": 2}, base_url=mock_provider.url
    )
    completion = ADAPTER.parse_response(payload=_send(request).content, model="m")
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 2


@pytest.mark.parametrize(
    ("fault", "status", "kind", "retry_after"),
    [
        ("529", 529, "overloaded", 1.0),
        ("429", 429, "rate_limit", 1.0),
        ("500", 500, "server_error", None),
        ("context", 400, "context_length", None),
    ],
)
def test_end_to_end_faults(mock_provider, fault, status, kind, retry_after):
    request = ADAPTER.build_request(
        body={"messages": [{"role": "user", "content": "x"}]},
        upstream_model="claude-haiku-4-5",
        base_url=mock_provider.url,
        api_key="sk-ant",
        extra_headers={"x-mock-fault": fault},
        options={},
        stream=False,
    )
    response = _send(request)
    error = ADAPTER.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    assert (error.status, error.kind, error.retry_after, error.retryable) == (status, kind, retry_after, True)
