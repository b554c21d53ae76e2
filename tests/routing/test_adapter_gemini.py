"""Gemini adapter: generateContent requests, responses, SSE streams, errors and thought signatures."""

import json
import random
import re

import httpx
import pytest

from apps.routing.adapters import InvalidRequest, Usage, adapter_for
from apps.routing.adapters.gemini import FOREIGN_SIGNATURE, mint_tool_call_id, signature_of
from apps.routing.mock.server import Behaviour, gemini_reply

ADAPTER = adapter_for("gemini")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def build(body: dict, *, stream: bool = False, base_url: str = "https://generativelanguage.googleapis.com", **kw):
    request = ADAPTER.build_request(
        body=body,
        upstream_model=kw.pop("upstream_model", "gemini-2.5-flash"),
        base_url=base_url,
        api_key="g-key",
        extra_headers=kw.pop("extra_headers", {}),
        options={},
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


def sse(*events: dict) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\r\n\r\n".encode() for e in events)


def test_urls_headers_system_roles_and_generation_config():
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": [{"type": "text", "text": "Encore"}]},
        ],
        "temperature": 0.3,
        "top_p": 0.8,
        "max_completion_tokens": 256,
        "stop": ["END", "STOP"],
        "seed": 7,
        "n": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}},
    }
    request, payload = build(body)
    stream_request, _ = build(body, stream=True)

    assert request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert stream_request.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert request.headers == {"content-type": "application/json", "x-goog-api-key": "g-key"}
    assert payload == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Bonjour"}]},
            {"role": "user", "parts": [{"text": "Encore"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.8,
            "seed": 7,
            "candidateCount": 2,
            "maxOutputTokens": 256,
            "stopSequences": ["END", "STOP"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
        },
    }


def test_json_object_sets_only_the_mime_type():
    _, payload = build({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})
    assert payload["generationConfig"] == {"responseMimeType": "application/json"}


def test_multi_turn_tool_use_restores_names_and_groups_results():
    signed_id = mint_tool_call_id("c2lnbmF0dXJl+/=")
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": signed_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {"id": "call_plain", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": signed_id, "content": '{"temp": 18, "sky": "sunny"}'},
            {"role": "tool", "tool_call_id": "call_plain", "content": "10:00"},
        ],
        "tools": [WEATHER_TOOL],
    }
    _, payload = build(body)

    assert payload["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnbmF0dXJl+/=",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18, "sky": "sunny"}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "10:00"}}},
            ],
        },
    ]
    assert payload["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                }
            ]
        }
    ]
    assert "toolConfig" not in payload


def test_calls_from_another_provider_get_googles_placeholder_signature():
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "toolu_01", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "toolu_02", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                ],
            },
        ]
    }
    _, payload = build(body)
    parts = payload["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == FOREIGN_SIGNATURE == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]


def test_tool_result_for_an_unknown_call_names_the_field():
    body = {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]}
    with pytest.raises(InvalidRequest) as raised:
        build(body)
    assert raised.value.param == "messages[1].tool_call_id"


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_mapping(tool_choice, config):
    _, payload = build(
        {"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL], "tool_choice": tool_choice}
    )
    assert payload["toolConfig"] == {"functionCallingConfig": config}


def test_images_inline_and_by_uri():
    content = [
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/cat.png?size=large"}},
        {"type": "text", "text": "What is this?"},
    ]
    _, payload = build({"messages": [{"role": "user", "content": content}]})
    assert payload["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/photos/cat.png?size=large"}},
        {"text": "What is this?"},
    ]


def test_tool_call_ids_embed_the_signature_losslessly():
    signature = "CiQBjz1rX+/abc==" * 20
    call_id = mint_tool_call_id(signature)
    assert re.fullmatch(r"call_[0-9a-f]{12}_ts_[A-Za-z0-9_-]+", call_id)
    assert signature_of(call_id) == signature
    assert re.fullmatch(r"call_[0-9a-f]{12}", mint_tool_call_id(None))
    assert signature_of(mint_tool_call_id(None)) is None
    assert signature_of("toolu_01_ts_abc") is None


def test_parse_response_skips_thoughts_and_mints_signed_tool_call_ids():
    payload = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me think about Paris", "thought": True},
                        {"text": "Checking "},
                        {"text": "the weather."},
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "SIG==",
                        },
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 30,
            "candidatesTokenCount": 9,
            "thoughtsTokenCount": 120,
            "cachedContentTokenCount": 10,
            "toolUsePromptTokenCount": 5,
            "totalTokenCount": 164,
        },
        "responseId": "abc123",
    }
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="google/gemini-3-pro")
    message = completion.body["choices"][0]["message"]
    calls = message["tool_calls"]

    assert message["content"] == "Checking the weather."
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"name": "get_weather", "arguments": '{"city":"Rome"}'},
    ]
    assert signature_of(calls[0]["id"]) == "SIG=="
    assert signature_of(calls[1]["id"]) is None and calls[1]["id"] != calls[0]["id"]
    assert completion.finish_reason == "tool_calls"
    assert completion.body["id"] == "chatcmpl-abc123"
    assert completion.usage == Usage(prompt_tokens=35, completion_tokens=129, cached_tokens=10, reasoning_tokens=120)
    assert completion.body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 120}


@pytest.mark.parametrize(
    ("reason", "finish_reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ],
)
def test_finish_reasons(reason, finish_reason):
    payload = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="m").finish_reason == finish_reason


def test_blocked_prompt_is_content_filter():
    payload = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 12}}
    completion = ADAPTER.parse_response(payload=json.dumps(payload).encode(), model="m")
    assert completion.finish_reason == "content_filter"
    assert completion.body["choices"][0]["message"]["content"] == ""
    assert completion.usage == Usage(prompt_tokens=12, completion_tokens=0)


STREAM = sse(
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 8},
    },
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo", "thought": False}]}, "index": 0}]},
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "S1"}
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 8,
            "candidatesTokenCount": 6,
            "thoughtsTokenCount": 4,
            "totalTokenCount": 18,
        },
    },
)


@pytest.mark.parametrize("seed", range(5))
def test_stream_decoder_text_tool_calls_and_last_usage(seed):
    decoder = ADAPTER.stream_decoder(model="google/gemini-3-pro", completion_id="gen-g")
    chunks = feed_in_pieces(decoder, STREAM, seed)
    deltas = [c["choices"][0]["delta"] for c in chunks]

    assert deltas[:3] == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}]
    call = deltas[3]["tool_calls"][0]
    assert {k: call[k] for k in ("index", "type", "function")} == {
        "index": 0,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    assert signature_of(call["id"]) == "S1"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert {c["id"] for c in chunks} == {"gen-g"}
    assert decoder.usage == Usage(prompt_tokens=8, completion_tokens=10, reasoning_tokens=4)
    assert decoder.finish_reason == "tool_calls"
    assert decoder.done is True


@pytest.mark.parametrize(
    "error_bytes",
    [
        b'{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded.",\n'
        b'    "status": "UNAVAILABLE"\n  }\n}\n',
        b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n',
    ],
)
def test_stream_error_mid_stream(error_bytes):
    payload = sse({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "index": 0}]}) + error_bytes
    decoder = ADAPTER.stream_decoder(model="m", completion_id="gen")
    chunks = feed_in_pieces(decoder, payload, seed=4)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]
    assert decoder.error.args == (503, "overloaded", "The model is overloaded.", None, True)
    assert decoder.done is False


@pytest.mark.parametrize(
    ("status", "error", "headers", "kind", "retryable", "retry_after"),
    [
        (
            429,
            {
                "code": 429,
                "message": "Quota exceeded",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}],
            },
            {},
            "rate_limit",
            True,
            31.0,
        ),
        (
            429,
            {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"},
            {"Retry-After": "4"},
            "rate_limit",
            True,
            4.0,
        ),
        (503, {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}, {}, "overloaded", True, None),
        (500, {"code": 500, "message": "Internal error", "status": "INTERNAL"}, {}, "server_error", True, None),
        (504, {"code": 504, "message": "late", "status": "DEADLINE_EXCEEDED"}, {}, "timeout", True, None),
        (
            400,
            {
                "code": 400,
                "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            },
            {},
            "context_length",
            True,
            None,
        ),
        (
            400,
            {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            },
            {},
            "auth",
            False,
            None,
        ),
        (400, {"code": 400, "message": "bad field", "status": "INVALID_ARGUMENT"}, {}, "bad_request", False, None),
        (403, {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}, {}, "permission", False, None),
        (404, {"code": 404, "message": "no model", "status": "NOT_FOUND"}, {}, "not_found", False, None),
    ],
)
def test_error_mapping(status, error, headers, kind, retryable, retry_after):
    mapped = ADAPTER.parse_error(status=status, payload=json.dumps({"error": error}).encode(), headers=headers)
    assert mapped.args == (status, kind, error["message"], retry_after, retryable)


# --- against the mock provider over real HTTP ------------------------------------------------------------------


def _send(request) -> httpx.Response:
    return httpx.post(request.url, headers=request.headers, content=request.body, timeout=10)


def test_end_to_end_thought_signature_round_trip(mock_provider):
    ask = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]}
    request, _ = build(ask, base_url=mock_provider.url, upstream_model="gemini-3-pro-preview")
    response = _send(request)
    assert response.status_code == 200
    upstream_signature = response.json()["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    first = ADAPTER.parse_response(payload=response.content, model="google/gemini-3-pro")
    call = first.body["choices"][0]["message"]["tool_calls"][0]

    assert upstream_signature.startswith("sig-")
    assert signature_of(call["id"]) == upstream_signature
    assert first.finish_reason == "tool_calls"
    assert json.loads(call["function"]["arguments"]) == {"city": "city-sample"}

    follow_up = {
        **ask,
        "messages": [
            *ask["messages"],
            first.body["choices"][0]["message"],
            {"role": "tool", "tool_call_id": call["id"], "content": "18C sunny"},
        ],
    }
    request, sent = build(follow_up, base_url=mock_provider.url, upstream_model="gemini-3-pro-preview")
    response = _send(request)
    assert response.status_code == 200, response.text
    second = ADAPTER.parse_response(payload=response.content, model="google/gemini-3-pro")
    expected = gemini_reply(mock_provider.state.requests[-1]["body"], Behaviour())

    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == upstream_signature
    assert sent["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18C sunny"}}}
    ]
    assert second.finish_reason == "stop"
    assert second.body["choices"][0]["message"]["content"] == expected.text
    assert second.usage == Usage(expected.prompt_tokens, expected.completion_tokens)


def test_end_to_end_the_mock_refuses_a_gemini_3_turn_without_signature(mock_provider):
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "x"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        ]
    }
    response = httpx.post(
        f"{mock_provider.url}/v1beta/models/gemini-3-pro-preview:generateContent",
        json=body,
        headers={"x-goog-api-key": "g"},
    )
    error = ADAPTER.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    assert (error.status, error.kind) == (400, "bad_request")
    assert "thought_signature" in error.message


@pytest.mark.parametrize("seed", range(3))
def test_end_to_end_stream_with_reasoning_tokens(mock_provider, seed):
    request, _ = build(
        {"messages": [{"role": "user", "content": "Tell me about the river Seine"}]},
        stream=True,
        base_url=mock_provider.url,
        extra_headers={"x-mock-reasoning-tokens": "7", "x-mock-cached-tokens": "2"},
    )
    decoder = ADAPTER.stream_decoder(model="google/gemini-2.5-flash", completion_id="gen-s")
    chunks = feed_in_pieces(decoder, _send(request).content, seed)
    sent = mock_provider.state.requests[-1]
    expected = gemini_reply(sent["body"], Behaviour(reasoning_tokens=7, cached_tokens=2))

    assert sent["query"] == {"alt": "sse"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == expected.text
    assert decoder.usage == Usage(
        expected.prompt_tokens, expected.completion_tokens, cached_tokens=2, reasoning_tokens=7
    )
    assert decoder.usage.completion_tokens == expected.completion_tokens  # includes the 7 reasoning tokens
    assert decoder.finish_reason == "stop"
    assert decoder.done is True


def test_end_to_end_stream_tool_call_keeps_signature(mock_provider):
    request, _ = build(
        {"messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER_TOOL], "tool_choice": "required"},
        stream=True,
        base_url=mock_provider.url,
        upstream_model="gemini-3-flash-preview",
    )
    decoder = ADAPTER.stream_decoder(model="google/gemini-3-flash", completion_id="gen-t")
    chunks = feed_in_pieces(decoder, _send(request).content, seed=5)
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or []]

    assert len(calls) == 1
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city":"city-sample"}'}
    assert signature_of(calls[0]["id"]).startswith("sig-")
    assert decoder.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("fault", "status", "kind", "retry_after"),
    [
        ("429", 429, "rate_limit", 1.0),
        ("503", 503, "overloaded", 1.0),
        ("500", 500, "server_error", None),
        ("context", 400, "context_length", None),
    ],
)
def test_end_to_end_faults(mock_provider, fault, status, kind, retry_after):
    request, _ = build(
        {"messages": [{"role": "user", "content": "x"}]},
        base_url=mock_provider.url,
        extra_headers={"x-mock-fault": fault},
    )
    response = _send(request)
    error = ADAPTER.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    assert (error.status, error.kind, error.retry_after, error.retryable) == (status, kind, retry_after, True)
