"""A local provider that speaks OpenAI, Anthropic and Gemini, with deterministic answers and faults on demand.

Faults come from, in order: the `x-mock-fault` request header, a rule posted to `/_mock/rules` for a model
(optionally for the next N requests only), or a `fault-<kind>` marker in the model name (`gpt-4o-mini-fault-429`).
Kinds: 429, 500, 502, 503, 529, timeout (no answer for 30 s), slow (first byte after `delay_ms`, default 1 s),
cut (a stream stops half-way; a plain answer closes the connection), context (a context-length error).
Headers or rule fields also set cached, cache-write and reasoning token counts and a delay between stream chunks
(`x-mock-cached-tokens`, `x-mock-cache-write-tokens`, `x-mock-reasoning-tokens`, `x-mock-chunk-delay-ms`).
A rule's `reply` replaces the answer text, for tests that need a model to give a particular answer.
`/_mock/requests` lists what the mock received, so tests can check what a gateway sent upstream."""

import asyncio
import collections
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from . import answers

FAULTS = {"429", "500", "502", "503", "529", "timeout", "slow", "cut", "context"}
FAULT_IN_MODEL = re.compile(r"fault-(\w+)")
TIMEOUT_SECONDS = 30.0
IMAGE_TOKENS = 85
RAW_BODY = web.RequestKey("raw_body", bytes)


@dataclass
class Behaviour:
    fault: str | None = None
    delay_ms: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    chunk_delay_ms: int = 0
    reply: str | None = None


@dataclass
class MockState:
    rules: dict[str, dict] = field(default_factory=dict)
    requests: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    record: bool = True

    def behaviour_for(self, model: str, headers) -> Behaviour:
        rule = self.rules.get(model) or self.rules.get("*") or {}
        if rule.get("times") is not None:
            rule["times"] -= 1
            if rule["times"] <= 0:
                self.rules.pop(model if model in self.rules else "*", None)
        fault = headers.get("x-mock-fault") or rule.get("fault")
        marker = FAULT_IN_MODEL.search(model)
        if fault is None and marker:
            fault = marker.group(1)
        return Behaviour(
            fault=fault if fault in FAULTS else None,
            delay_ms=int(headers.get("x-mock-delay-ms") or rule.get("delay_ms") or 0),
            cached_tokens=int(headers.get("x-mock-cached-tokens") or rule.get("cached_tokens") or 0),
            cache_write_tokens=int(headers.get("x-mock-cache-write-tokens") or rule.get("cache_write_tokens") or 0),
            reasoning_tokens=int(headers.get("x-mock-reasoning-tokens") or rule.get("reasoning_tokens") or 0),
            chunk_delay_ms=int(headers.get("x-mock-chunk-delay-ms") or rule.get("chunk_delay_ms") or 0),
            reply=rule.get("reply"),
        )


@dataclass
class Reply:
    """What the mock answers, before it is put in a wire format."""

    text: str = ""
    tool_calls: list[dict] = field(default_factory=list)  # {"id", "name", "arguments": dict}
    finish: str = "stop"  # stop | length | tool_calls | stop_sequence
    stop_sequence: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


def _id(prefix: str, seed: str | bytes) -> str:
    return f"{prefix}{hashlib.sha256(seed if isinstance(seed, bytes) else seed.encode()).hexdigest()[:24]}"


def build_reply(
    *,
    prompt_text: str,
    last_text: str,
    extra_prompt_tokens: int,
    tools: list[dict],
    forced_tool: str | None,
    tools_disabled: bool,
    answering_tool_result: bool,
    json_schema: Any | None,
    wants_json: bool,
    max_tokens: int | None,
    stop: list[str],
    behaviour: Behaviour,
) -> Reply:
    reply = Reply(
        prompt_tokens=answers.count_tokens(prompt_text) + extra_prompt_tokens,
        reasoning_tokens=behaviour.reasoning_tokens,
    )
    reply.cached_tokens = min(behaviour.cached_tokens, reply.prompt_tokens)
    reply.cache_write_tokens = min(behaviour.cache_write_tokens, reply.prompt_tokens - reply.cached_tokens)
    if tools and not tools_disabled and not answering_tool_result:
        chosen = [t for t in tools if t["name"] == forced_tool] if forced_tool else tools[:1]
        if not forced_tool and "parallel" in last_text.lower():
            chosen = tools[:3]
        for tool in chosen:
            reply.tool_calls.append(
                {
                    "id": _id("call_", prompt_text + tool["name"]),
                    "name": tool["name"],
                    "arguments": answers.tool_arguments(tool.get("parameters")),
                }
            )
        reply.finish = "tool_calls"
        reply.completion_tokens = sum(answers.count_tokens(json.dumps(c["arguments"])) for c in reply.tool_calls) + 5
    else:
        if behaviour.reply is not None:
            reply.text, truncated = behaviour.reply, False
        elif wants_json or json_schema is not None:
            reply.text, truncated = answers.json_reply(json_schema), False
        else:
            reply.text, truncated = answers.reply_text(last_text or prompt_text, max_tokens=max_tokens)
        for sequence in stop:
            if sequence and sequence in reply.text:
                reply.text = reply.text[: reply.text.index(sequence)]
                reply.finish, reply.stop_sequence = "stop_sequence", sequence
                break
        if truncated:
            reply.finish = "length"
        reply.completion_tokens = answers.count_tokens(reply.text)
    reply.completion_tokens += reply.reasoning_tokens
    return reply


# --- OpenAI ---------------------------------------------------------------------------------------------------


def _openai_text(content: Any) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    text, images = [], 0
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "text":
            text.append(part.get("text", ""))
        elif isinstance(part, dict) and part.get("type") == "image_url":
            images += 1
    return " ".join(text), images


def openai_reply(body: dict, behaviour: Behaviour) -> Reply:
    messages = body.get("messages") or []
    texts, images, last_text = [], 0, ""
    for message in messages:
        text, n_images = _openai_text(message.get("content"))
        texts.append(text)
        images += n_images
        if message.get("role") == "user":
            last_text = text
    tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    forced = choice["function"]["name"] if isinstance(choice, dict) and choice.get("function") else None
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") if response_format.get("type") else None
    stop = body.get("stop") or []
    return build_reply(
        prompt_text=" ".join(texts) + (json.dumps(tools) if tools else ""),
        last_text=last_text,
        extra_prompt_tokens=3 * len(messages) + IMAGE_TOKENS * images,
        tools=tools,
        forced_tool=forced,
        tools_disabled=choice == "none",
        answering_tool_result=bool(messages) and messages[-1].get("role") == "tool",
        json_schema=schema if response_format.get("type") == "json_schema" else None,
        wants_json=response_format.get("type") == "json_object",
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop),
        behaviour=behaviour,
    )


def openai_usage(reply: Reply) -> dict:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0},
    }


OPENAI_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}


def openai_tool_calls(reply: Reply) -> list[dict]:
    return [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
        for c in reply.tool_calls
    ]


def openai_completion(model: str, reply: Reply, completion_id: str) -> dict:
    message = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = openai_tool_calls(reply)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": OPENAI_FINISH[reply.finish], "logprobs": None}],
        "usage": openai_usage(reply),
        "system_fingerprint": "fp_mock",
    }


def openai_chunks(model: str, reply: Reply, completion_id: str, include_usage: bool) -> list[dict]:
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    usage_field = {"usage": None} if include_usage else {}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **usage_field}

    chunks = [chunk({"role": "assistant", "content": ""})]
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in answers.chunk_text(json.dumps(call["arguments"]), size=12):
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    if reply.text:
        chunks.extend(chunk({"content": piece}) for piece in answers.chunk_text(reply.text))
    chunks.append(chunk({}, OPENAI_FINISH[reply.finish]))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": openai_usage(reply)})
    return chunks


# --- Anthropic ------------------------------------------------------------------------------------------------


def _anthropic_text(content: Any) -> tuple[str, int, bool]:
    """Text, image count, and whether the content carries a tool_result."""
    if isinstance(content, str):
        return content, 0, False
    text, images, tool_result = [], 0, False
    for block in content or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "image":
            images += 1
        elif kind == "tool_result":
            tool_result = True
            inner = block.get("content")
            text.append(inner if isinstance(inner, str) else _anthropic_text(inner)[0])
    return " ".join(text), images, tool_result


def _json_asked_in(system: str) -> tuple[bool, Any | None]:
    """Messages has no JSON mode; like a real model, the mock follows a system prompt asking for JSON."""
    if "JSON" not in system or "Respond with" not in system:
        return False, None
    start = system.find("{")
    schema = None
    if start >= 0:
        try:
            schema = json.loads(system[start:].split("\n")[0])
        except json.JSONDecodeError:
            schema = None
    return True, schema


def anthropic_reply(body: dict, behaviour: Behaviour) -> Reply:
    system = body.get("system") or ""
    texts = [system if isinstance(system, str) else _anthropic_text(system)[0]]
    images, last_text, answering_tool = 0, "", False
    for message in body.get("messages") or []:
        text, n_images, tool_result = _anthropic_text(message.get("content"))
        texts.append(text)
        images += n_images
        if message.get("role") == "user":
            last_text, answering_tool = text, tool_result
    tools = [{"name": t["name"], "parameters": t.get("input_schema")} for t in body.get("tools") or []]
    choice = body.get("tool_choice") or {}
    wants_json, schema = _json_asked_in(texts[0])
    return build_reply(
        prompt_text=" ".join(texts) + (json.dumps(tools) if tools else ""),
        last_text=last_text,
        extra_prompt_tokens=3 * len(body.get("messages") or []) + IMAGE_TOKENS * images,
        tools=tools,
        forced_tool=choice.get("name") if choice.get("type") == "tool" else None,
        tools_disabled=choice.get("type") == "none",
        answering_tool_result=answering_tool,
        json_schema=schema,
        wants_json=wants_json,
        max_tokens=body.get("max_tokens"),
        stop=list(body.get("stop_sequences") or []),
        behaviour=behaviour,
    )


ANTHROPIC_STOP = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
}


def anthropic_usage(reply: Reply) -> dict:
    return {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens - reply.cache_write_tokens,
        "output_tokens": reply.completion_tokens,
        "cache_creation_input_tokens": reply.cache_write_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "service_tier": "standard",
    }


def anthropic_blocks(reply: Reply) -> list[dict]:
    blocks = [{"type": "text", "text": reply.text}] if reply.text else []
    blocks += [
        {"type": "tool_use", "id": c["id"].replace("call_", "toolu_"), "name": c["name"], "input": c["arguments"]}
        for c in reply.tool_calls
    ]
    return blocks


def anthropic_message(model: str, reply: Reply, message_id: str) -> dict:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": anthropic_blocks(reply),
        "stop_reason": ANTHROPIC_STOP[reply.finish],
        "stop_sequence": reply.stop_sequence,
        "usage": anthropic_usage(reply),
    }


def anthropic_events(model: str, reply: Reply, message_id: str) -> list[tuple[str, dict]]:
    usage = anthropic_usage(reply)
    start = {**anthropic_message(model, reply, message_id), "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"})]
    for index, block in enumerate(anthropic_blocks(reply)):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            for piece in answers.chunk_text(block["text"]):
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
                )
        else:
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                )
            )
            for piece in answers.chunk_text(json.dumps(block["input"]), size=12):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": ANTHROPIC_STOP[reply.finish], "stop_sequence": reply.stop_sequence}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": reply.completion_tokens}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# --- Gemini ---------------------------------------------------------------------------------------------------


def gemini_reply(body: dict, behaviour: Behaviour) -> Reply:
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    texts = [" ".join(p.get("text", "") for p in system.get("parts", []))]
    images, last_text, answering_tool = 0, "", False
    for content in body.get("contents") or []:
        parts = content.get("parts") or []
        text = " ".join(p["text"] for p in parts if "text" in p)
        responses = [json.dumps(p["functionResponse"]) for p in parts if "functionResponse" in p]
        images += sum(1 for p in parts if "inlineData" in p or "fileData" in p)
        texts.append(text + " ".join(responses))
        if content.get("role", "user") == "user":
            last_text, answering_tool = text or " ".join(responses), bool(responses)
    tools = [
        {"name": d["name"], "parameters": d.get("parametersJsonSchema") or d.get("parameters")}
        for t in body.get("tools") or []
        for d in t.get("functionDeclarations") or []
    ]
    config = body.get("generationConfig") or {}
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = calling.get("allowedFunctionNames") or []
    wants_json = config.get("responseMimeType") == "application/json"
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    return build_reply(
        prompt_text=" ".join(texts) + (json.dumps(tools) if tools else ""),
        last_text=last_text,
        extra_prompt_tokens=IMAGE_TOKENS * images,
        tools=tools,
        forced_tool=allowed[0] if calling.get("mode") == "ANY" and allowed else None,
        tools_disabled=calling.get("mode") == "NONE",
        answering_tool_result=answering_tool,
        json_schema=schema if wants_json else None,
        wants_json=wants_json,
        max_tokens=config.get("maxOutputTokens"),
        stop=list(config.get("stopSequences") or []),
        behaviour=behaviour,
    )


def gemini_missing_signature(model: str, body: dict) -> bool:
    """Gemini 3 models refuse earlier function calls sent back without their thought signature."""
    if "gemini-3" not in model:
        return False
    for content in body.get("contents") or []:
        if content.get("role") != "model":
            continue
        calls = [p for p in content.get("parts") or [] if "functionCall" in p]
        if calls and "thoughtSignature" not in calls[0]:
            return True
    return False


GEMINI_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}


def gemini_usage(reply: Reply) -> dict:
    candidates = reply.completion_tokens - reply.reasoning_tokens
    usage = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.reasoning_tokens:
        usage["thoughtsTokenCount"] = reply.reasoning_tokens
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage


def gemini_parts(model: str, reply: Reply) -> list[dict]:
    parts: list[dict] = [{"text": reply.text}] if reply.text else []
    for index, call in enumerate(reply.tool_calls):
        part: dict = {"functionCall": {"name": call["name"], "args": call["arguments"]}}
        if index == 0 and "gemini-3" in model:
            part["thoughtSignature"] = _id("sig-", call["id"])
        parts.append(part)
    return parts


def gemini_response(model: str, reply: Reply, response_id: str, parts: list[dict], final: bool) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
    if final:
        candidate["finishReason"] = GEMINI_FINISH[reply.finish]
    return {
        "candidates": [candidate],
        "usageMetadata": gemini_usage(reply),
        "modelVersion": model,
        "responseId": response_id,
    }


# --- HTTP -----------------------------------------------------------------------------------------------------

ERROR_STATUS = {"429": 429, "500": 500, "502": 502, "503": 503, "529": 529, "context": 400}
ANTHROPIC_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}


def error_body(wire: str, status: int, message: str, code: str | None = None) -> dict:
    if wire == "anthropic":
        return {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPE.get(status, "api_error"), "message": message}}
    if wire == "gemini":
        return {"error": {"code": status, "message": message, "status": GEMINI_STATUS.get(status, "UNKNOWN")}}
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def json_response(data: dict) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def error_response(wire: str, status: int, message: str, code: str | None = None) -> web.Response:
    headers = {"retry-after": "1"} if status in (429, 529, 503) else {}
    return web.json_response(error_body(wire, status, message, code), status=status, headers=headers)


def fault_response(wire: str, fault: str) -> web.Response:
    status = ERROR_STATUS[fault]
    if fault == "context":
        message = "This model's maximum context length is 8192 tokens; your messages resulted in more tokens."
        return error_response(wire, status, message, code="context_length_exceeded")
    return error_response(wire, status, f"Mock fault {fault}")


def api_key_of(request: web.Request, wire: str) -> str:
    if wire == "anthropic":
        return request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if wire == "gemini":
        return request.headers.get("x-goog-api-key") or request.query.get("key", "")
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


async def sse_stream(
    request: web.Request, events: list[str], *, cut: bool, chunk_delay_ms: int = 0
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
    await response.prepare(request)
    if chunk_delay_ms and not cut:
        for event in events:  # a slow stream, event by event
            await response.write(event.encode())
            await asyncio.sleep(chunk_delay_ms / 1000)
        await response.write_eof()
        return response
    if not cut:
        # One write: the mock must stay cheap next to the gateway it is measured against.
        await response.write("".join(events).encode())
        await response.write_eof()
        return response
    for event in events[: max(1, len(events) // 2)]:
        await response.write(event.encode())
    # Let the first half reach the client, then drop the connection without finishing the chunked body.
    await asyncio.sleep(0.05)
    request.transport.close()
    return response


LOCAL_PREFIX = "/local/"


class MockProvider:
    def __init__(self, state: MockState | None = None):
        self.state = state or MockState()

    async def _read(self, request: web.Request, wire: str, model: str) -> tuple[dict | None, web.Response | None]:
        try:
            raw = await request.read()
            body = orjson.loads(raw)
            request[RAW_BODY] = raw
        except orjson.JSONDecodeError:
            return None, error_response(wire, 400, "Request body is not valid JSON.")
        if not isinstance(body, dict):
            return None, error_response(wire, 400, "Request body must be a JSON object.")
        if self.state.record:
            self.state.requests.append(
                {
                    "wire": wire,
                    "path": request.path,
                    "query": dict(request.query),
                    "model": model or body.get("model"),
                    "api_key": api_key_of(request, wire),
                    "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() not in {"host"}},
                    "body": body,
                }
            )
        key = api_key_of(request, wire)
        # Under /local/ the mock plays a local server (Ollama, vLLM): no key needed.
        keyless = request.path.startswith(LOCAL_PREFIX) and not key
        if not keyless and (not key or key.startswith("invalid")):
            return None, error_response(wire, 401, "Invalid API key.", code="invalid_api_key")
        return body, None

    async def _before_first_byte(self, wire: str, behaviour: Behaviour) -> web.Response | None:
        if behaviour.fault == "timeout":
            await asyncio.sleep(TIMEOUT_SECONDS)
        if behaviour.fault == "slow" or behaviour.delay_ms:
            await asyncio.sleep((behaviour.delay_ms or 1000) / 1000)
        if behaviour.fault in ERROR_STATUS:
            return fault_response(wire, behaviour.fault)
        return None

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request, "openai", "")
        if error:
            return error
        model = body.get("model")
        if not isinstance(model, str) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return error_response("openai", 400, "'model' and a non-empty 'messages' list are required.")
        behaviour = self.state.behaviour_for(model, request.headers)
        if failure := await self._before_first_byte("openai", behaviour):
            return failure
        reply = openai_reply(body, behaviour)
        completion_id = _id("chatcmpl-", request[RAW_BODY])
        if not body.get("stream"):
            if behaviour.fault == "cut":
                request.transport.close()
                return web.Response()
            return json_response(openai_completion(model, reply, completion_id))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = openai_chunks(model, reply, completion_id, include_usage)
        events = [f"data: {orjson.dumps(c).decode()}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        return await sse_stream(request, events, cut=behaviour.fault == "cut", chunk_delay_ms=behaviour.chunk_delay_ms)

    async def openai_models(self, request: web.Request) -> web.Response:
        names = ["gpt-4o-mini", "gpt-4o", "mock-model"]
        data = [{"id": n, "object": "model", "created": 1700000000, "owned_by": "mock"} for n in names]
        return web.json_response({"object": "list", "data": data})

    async def anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request, "anthropic", "")
        if error:
            return error
        model = body.get("model")
        if not request.headers.get("anthropic-version"):
            return error_response("anthropic", 400, "anthropic-version header is required.")
        if not isinstance(model, str) or not isinstance(body.get("max_tokens"), int) or not body.get("messages"):
            return error_response("anthropic", 400, "model, max_tokens and messages are required.")
        if any(m.get("role") not in ("user", "assistant") for m in body["messages"]):
            return error_response("anthropic", 400, "messages: roles must be 'user' or 'assistant'.")
        behaviour = self.state.behaviour_for(model, request.headers)
        if failure := await self._before_first_byte("anthropic", behaviour):
            return failure
        reply = anthropic_reply(body, behaviour)
        message_id = _id("msg_", request[RAW_BODY])
        if not body.get("stream"):
            if behaviour.fault == "cut":
                request.transport.close()
                return web.Response()
            return json_response(anthropic_message(model, reply, message_id))
        events = [
            f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in anthropic_events(model, reply, message_id)
        ]
        return await sse_stream(request, events, cut=behaviour.fault == "cut", chunk_delay_ms=behaviour.chunk_delay_ms)

    async def gemini_generate(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return error_response("gemini", 404, f"Unknown method {method!r}.")
        body, error = await self._read(request, "gemini", model)
        if error:
            return error
        if not body.get("contents"):
            return error_response("gemini", 400, "contents is required.")
        if gemini_missing_signature(model, body):
            return error_response("gemini", 400, "Function call is missing a thought_signature in functionCall parts.")
        behaviour = self.state.behaviour_for(model, request.headers)
        if failure := await self._before_first_byte("gemini", behaviour):
            return failure
        reply = gemini_reply(body, behaviour)
        response_id = _id("", request[RAW_BODY])[:16]
        parts = gemini_parts(model, reply)
        if method == "generateContent":
            if behaviour.fault == "cut":
                request.transport.close()
                return web.Response()
            return json_response(gemini_response(model, reply, response_id, parts, final=True))
        text_parts = [{"text": piece} for piece in answers.chunk_text(reply.text)] if reply.text else []
        call_parts = [p for p in parts if "functionCall" in p]
        pieces = [[p] for p in text_parts] + ([call_parts] if call_parts else [])
        events = [
            f"data: {json.dumps(gemini_response(model, reply, response_id, piece, final=i == len(pieces) - 1))}\r\n\r\n"
            for i, piece in enumerate(pieces or [[]])
        ]
        return await sse_stream(request, events, cut=behaviour.fault == "cut", chunk_delay_ms=behaviour.chunk_delay_ms)

    async def rules(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.state.rules.clear()
            return web.json_response({"rules": {}})
        if request.method == "POST":
            rule = await request.json()
            self.state.rules[rule.pop("model", "*")] = rule
        return web.json_response({"rules": self.state.rules})

    async def requests(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.state.requests.clear()
        return web.json_response({"requests": list(self.state.requests)})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/chat/completions", self.openai_chat)
        app.router.add_post(f"{LOCAL_PREFIX}v1/chat/completions", self.openai_chat)
        app.router.add_get("/v1/models", self.openai_models)
        app.router.add_post("/v1/messages", self.anthropic_messages)
        app.router.add_post("/v1beta/models/{target}", self.gemini_generate)
        app.router.add_route("*", "/_mock/rules", self.rules)
        app.router.add_route("*", "/_mock/requests", self.requests)
        return app
