"""The mock provider speaks each wire format well enough for the official SDKs, and fails on demand."""

import json

import anthropic
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


@pytest.fixture
def openai_client(mock_provider):
    return openai.OpenAI(base_url=f"{mock_provider.url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def anthropic_client(mock_provider):
    return anthropic.Anthropic(base_url=mock_provider.url, api_key="sk-ant-test", max_retries=0)


def test_openai_answer_is_deterministic_with_usage(openai_client, mock_provider):
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, mock"}]}
    first = openai_client.chat.completions.create(**ask)
    second = openai_client.chat.completions.create(**ask)

    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content.startswith("Mock answer")
    assert first.choices[0].finish_reason == "stop"
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert mock_provider.state.requests[-1]["api_key"] == "sk-test"


def test_openai_stream_with_usage_chunk(openai_client):
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Mock answer")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_openai_tool_call_then_answer(openai_client):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "city-sample"}

    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    second = openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


def test_openai_json_schema_answer(openai_client):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}}}
    result = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert json.loads(result.choices[0].message.content) == {"n": 1, "ok": True}


def test_openai_max_tokens_gives_length(openai_client):
    result = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a long answer please"}], max_tokens=2
    )
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens <= 2


@pytest.mark.parametrize(
    ("fault", "exception", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("529", openai.InternalServerError, 529),
        ("context", openai.BadRequestError, 400),
    ],
)
def test_openai_faults_from_header(openai_client, fault, exception, status):
    with pytest.raises(exception) as raised:
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-fault": fault}
        )
    assert raised.value.status_code == status


def test_fault_from_model_name_and_retry_after(mock_provider):
    response = httpx.post(
        f"{mock_provider.url}/v1/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "gpt-4o-mini-fault-429", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_fault_rule_for_next_requests_only(openai_client, mock_provider):
    httpx.post(f"{mock_provider.url}/_mock/rules", json={"model": "gpt-4o-mini", "fault": "500", "times": 2})
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            openai_client.chat.completions.create(**ask)
    assert openai_client.chat.completions.create(**ask).choices[0].message.content


def test_reply_rule_sets_the_answer_for_one_model(openai_client, anthropic_client, mock_provider):
    httpx.post(f"{mock_provider.url}/_mock/rules", json={"model": "gpt-4o-mini", "reply": "The answer is 42."})
    ask = {"messages": [{"role": "user", "content": "What is six times seven?"}]}

    answer = openai_client.chat.completions.create(model="gpt-4o-mini", **ask)
    other = openai_client.chat.completions.create(model="gpt-4o", **ask)

    assert answer.choices[0].message.content == "The answer is 42."
    assert answer.usage.completion_tokens == 5  # counted on the reply given
    assert other.choices[0].message.content.startswith("Mock answer")
    httpx.post(f"{mock_provider.url}/_mock/rules", json={"model": "claude-haiku-4-5", "reply": "Forty-two."})
    message = anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=50, **ask)
    assert message.content[0].text == "Forty-two."


def test_timeout_and_slow_first_byte(mock_provider):
    ask = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": "Bearer k"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{mock_provider.url}/v1/chat/completions",
            json=ask,
            headers={**headers, "x-mock-fault": "timeout"},
            timeout=0.5,
        )
    slow = httpx.post(
        f"{mock_provider.url}/v1/chat/completions",
        json=ask,
        headers={**headers, "x-mock-fault": "slow", "x-mock-delay-ms": "300"},
    )
    assert slow.status_code == 200
    assert slow.elapsed.total_seconds() >= 0.3


def test_cut_stream_breaks_the_connection(openai_client):
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        stream = openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "please cut this stream somewhere in the middle"}],
            stream=True,
            extra_headers={"x-mock-fault": "cut"},
        )
        list(stream)


def test_missing_key_is_401(mock_provider):
    response = httpx.post(f"{mock_provider.url}/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 401


def test_anthropic_message_with_cache_accounting(anthropic_client):
    message = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        system="Be brief." * 50,
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers={"x-mock-cached-tokens": "40", "x-mock-cache-write-tokens": "10"},
    )
    assert message.content[0].text.startswith("Mock answer")
    assert message.stop_reason == "end_turn"
    assert message.usage.cache_read_input_tokens == 40
    assert message.usage.cache_creation_input_tokens == 10
    assert message.usage.input_tokens > 0


def test_anthropic_stream_tool_use(anthropic_client):
    tool = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, tools=[tool], messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"city": "city-sample"}
    assert final.usage.output_tokens > 0


def test_anthropic_overloaded(anthropic_client):
    with pytest.raises(anthropic.APIStatusError) as raised:
        anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-fault": "529"},
        )
    assert raised.value.status_code == 529


def _gemini(mock_provider, model: str, method: str, body: dict, **params) -> httpx.Response:
    return httpx.post(
        f"{mock_provider.url}/v1beta/models/{model}:{method}",
        json=body,
        params=params,
        headers={"x-goog-api-key": "g-key"},
    )


def test_gemini_generate_and_stream(mock_provider):
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
    }
    plain = _gemini(mock_provider, "gemini-2.5-flash", "generateContent", body).json()
    assert plain["candidates"][0]["finishReason"] == "STOP"
    text = plain["candidates"][0]["content"]["parts"][0]["text"]
    assert text.startswith("Mock answer")
    usage = plain["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]

    streamed = _gemini(mock_provider, "gemini-2.5-flash", "streamGenerateContent", body, alt="sse")
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == text
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_3_needs_thought_signatures_back(mock_provider):
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]
    ask = {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}], "tools": tools}
    first = _gemini(mock_provider, "gemini-3-pro", "generateContent", ask).json()
    call_part = first["candidates"][0]["content"]["parts"][0]
    assert call_part["functionCall"]["name"] == "get_weather"
    assert call_part["thoughtSignature"]

    answer = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}]}
    without = {
        **ask,
        "contents": [
            *ask["contents"],
            {"role": "model", "parts": [{"functionCall": call_part["functionCall"]}]},
            answer,
        ],
    }
    assert _gemini(mock_provider, "gemini-3-pro", "generateContent", without).status_code == 400
    with_signature = {**ask, "contents": [*ask["contents"], {"role": "model", "parts": [call_part]}, answer]}
    final = _gemini(mock_provider, "gemini-3-pro", "generateContent", with_signature)
    assert final.status_code == 200
    assert final.json()["candidates"][0]["content"]["parts"][0]["text"].startswith("Mock answer")
