"""The Anthropic-compatible /v1/messages translation: requests in, messages and SSE events out."""

import json

import httpx
import pytest

from apps.routing.adapters import Completion, InvalidRequest, Usage, adapter_for
from apps.routing.adapters.messages_api import (
    MessagesStreamEncoder,
    error_body,
    error_type_for,
    message_from_completion,
    request_to_openai,
)

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def parse_events(raw: list[bytes]) -> list[tuple[str, dict]]:
    parsed = []
    for event in raw:
        name_line, data_line, *_ = event.decode().split("\n")
        assert event.endswith(b"\n\n")
        parsed.append((name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return parsed


def test_request_with_system_images_tools_and_tool_results():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "Be brief.",
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
        "tools": [WEATHER],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/sky.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": [
                            {"type": "text", "text": "18C"},
                            {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
                        ],
                    },
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
    }
    assert request_to_openai(body) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "u-1",
        "stream": True,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER["input_schema"],
                    "description": "Weather for a city",
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/sky.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice, expected):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER]}
    request = request_to_openai({**body, "tool_choice": choice})
    assert request["tool_choice"] == expected
    assert "parallel_tool_calls" not in request


def test_system_blocks_with_cache_control_and_error_results():
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "Manual", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}],
            }
        ],
    }
    request = request_to_openai(body)
    assert request["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "Manual", "cache_control": {"type": "ephemeral"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"},
    ]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]}, "messages.1.role"),
        ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages.0.content.0.type"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
        ({"tools": [WEATHER], "tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"stop_sequences": "END"}, "stop_sequences"),
    ],
)
def test_validation_errors_name_the_field(patch, param):
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}], **patch}
    with pytest.raises(InvalidRequest) as raised:
        request_to_openai(body)
    assert raised.value.param == param
    assert str(raised.value).startswith(f"{param}: ")


def _completion(message: dict, finish_reason: str, usage: Usage) -> Completion:
    body = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "model": "anthropic/claude-sonnet-4-5",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    return Completion(body=body, usage=usage, finish_reason=finish_reason)


def test_message_from_completion_with_tool_use_and_cache_usage():
    message = {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    usage = Usage(prompt_tokens=150, completion_tokens=40, cached_tokens=100, cache_write_tokens=30)
    assert message_from_completion(_completion(message, "tool_calls", usage)) == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "anthropic/claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
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


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
def test_stop_reasons(finish_reason, stop_reason):
    completion = _completion({"role": "assistant", "content": "x"}, finish_reason, Usage(1, 1))
    assert message_from_completion(completion)["stop_reason"] == stop_reason


def _chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {"id": "gen", "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def test_stream_encoder_event_order_for_text_then_two_tool_calls():
    encoder = MessagesStreamEncoder(message_id="msg_1", model="claude-sonnet-4-5", input_tokens=12)
    raw = []
    for chunk in [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Checking"}),
        _chunk({"content": " now."}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ]
            }
        ),
        _chunk({}, "tool_calls"),
    ]:
        raw += encoder.feed(chunk)
    raw += encoder.finish(Usage(prompt_tokens=112, completion_tokens=30, cached_tokens=100), None)
    events = parse_events(raw)

    assert [(name, data.get("index")) for name, data in events] == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert all(name == data["type"] for name, data in events)
    assert events[0][1]["message"]["usage"] == {"input_tokens": 12, "output_tokens": 0}
    assert events[0][1]["message"]["id"] == "msg_1"
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert [events[i][1]["delta"] for i in (2, 3)] == [
        {"type": "text_delta", "text": "Checking"},
        {"type": "text_delta", "text": " now."},
    ]
    assert events[5][1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}
    assert "".join(events[i][1]["delta"]["partial_json"] for i in (6, 7)) == '{"city":"Paris"}'
    assert events[9][1]["content_block"]["name"] == "get_time"
    assert events[12][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 12,
            "output_tokens": 30,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
        },
    }


def test_stream_encoder_with_no_chunks_still_sends_a_whole_message():
    encoder = MessagesStreamEncoder(message_id="msg_2", model="m")
    events = parse_events(encoder.finish(None, "length"))
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[1][1]["usage"] == {"output_tokens": 0}


def test_error_helpers():
    assert error_body("overloaded_error", "Overloaded") == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert error_type_for("rate_limit") == "rate_limit_error"
    assert error_type_for("context_length") == "invalid_request_error"
    assert error_type_for("something new") == "api_error"
    encoder = MessagesStreamEncoder(message_id="m", model="m")
    assert parse_events(encoder.error("api_error", "cut")) == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "cut"}})
    ]


def test_round_trip_through_the_anthropic_adapter_keeps_the_conversation():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": "Be brief.",
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"}]},
        ],
    }
    request = adapter_for("anthropic").build_request(
        body=request_to_openai(body),
        upstream_model="claude-sonnet-4-5-20250929",
        base_url="https://api.anthropic.com",
        api_key="k",
        extra_headers={},
        options={},
        stream=False,
    )
    upstream = json.loads(request.body)
    assert upstream["system"] == "Be brief."
    assert upstream["max_tokens"] == 300
    assert upstream["tools"] == [WEATHER]
    assert upstream["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"}]},
    ]


def test_end_to_end_openai_upstream_stream_reencoded_as_anthropic_events(mock_provider):
    """An Anthropic client asking an OpenAI-compatible upstream: the whole path except the sockets to the client."""
    body = {
        "model": "gpt-4o",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello there"}],
        "stream": True,
    }
    adapter = adapter_for("openai")
    request = adapter.build_request(
        body=request_to_openai(body),
        upstream_model="gpt-4o-mini",
        base_url=f"{mock_provider.url}/v1",
        api_key="k",
        extra_headers={},
        options={},
        stream=True,
    )
    payload = httpx.post(request.url, headers=request.headers, content=request.body, timeout=10).content
    decoder = adapter.stream_decoder(model="gpt-4o", completion_id="chatcmpl-e2e")
    encoder = MessagesStreamEncoder(message_id="msg_e2e", model="gpt-4o")
    raw = []
    for start in range(0, len(payload), 17):
        for chunk in decoder.feed(payload[start : start + 17]):
            raw += encoder.feed(chunk)
    raw += encoder.finish(decoder.usage, decoder.finish_reason)
    events = parse_events(raw)
    mock_usage = json.loads(payload.split(b"data: ")[-2])["usage"]

    assert [name for name, _ in events][:2] == ["message_start", "content_block_start"]
    assert [name for name, _ in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text.startswith("Mock answer") and text.endswith("you said Hello there")
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"]["output_tokens"] == mock_usage["completion_tokens"]
    assert events[-2][1]["usage"]["input_tokens"] == mock_usage["prompt_tokens"]
