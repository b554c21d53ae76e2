"""Anthropic Messages API <-> canonical OpenAI Chat Completions.

Options: `max_output_tokens` (the model's output limit, used when the client sets no max: Messages requires one;
else DEFAULT_MAX_TOKENS).
"""

import re
from collections.abc import Mapping
from typing import Any

from .base import (
    ChunkMaker,
    Completion,
    InvalidRequest,
    UpstreamError,
    UpstreamRequest,
    Usage,
    assistant_choice,
    completion_body,
    dumps,
    dumps_str,
    error_text,
    function_tools,
    is_context_length,
    kind_for_status,
    load_response,
    loads_or_none,
    max_tokens_of,
    parse_data_url,
    retry_after_from,
    stop_list,
    tool_arguments,
    upstream_error,
)
from .sse import SSEEvent, SSEStreamDecoder

ANTHROPIC_VERSION = "2023-06-01"
_INVALID_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Status of an error that arrives as an `error` event after the 200, by its type.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _image_block(url: str) -> dict:
    if (data_url := parse_data_url(url)) is not None:
        media_type, data = data_url
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any, param: str) -> list[dict]:
    """OpenAI content (a string or parts) as Messages content blocks; empty text is dropped (the API rejects it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get(kind) or ""
            block: dict = {"type": "text", "text": text}
        elif kind == "image_url":
            image = part.get("image_url")
            block = _image_block(image.get("url", "") if isinstance(image, dict) else str(image or ""))
        elif kind == "file" and (data_url := parse_data_url((part.get("file") or {}).get("file_data") or "")):
            media_type, data = data_url
            block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
        else:
            raise InvalidRequest(f"content part type {kind!r} is not supported by this provider", f"{param}[{j}]")
        if block["type"] == "text" and not block["text"]:
            continue
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _tool_id(call_id: Any) -> str:
    """Messages accepts only [a-zA-Z0-9_-] in tool ids; some OpenAI-compatible servers mint `functions.f:0`."""
    return _INVALID_ID_CHARS.sub("_", str(call_id or "")) or "toolu_missing"


def _append(messages: list[dict], role: str, blocks: list[dict]) -> None:
    """Consecutive turns of one role become one message (tool results + a user note, several tool results)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _convert_messages(body_messages: list) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    messages: list[dict] = []
    for i, message in enumerate(body_messages):
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_blocks(message.get("content"), f"{param}.content"))
        elif role == "user":
            _append(messages, "user", _blocks(message.get("content"), f"{param}.content"))
        elif role == "assistant":
            blocks = _blocks(message.get("content"), f"{param}.content")
            for j, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                arguments = tool_arguments(function.get("arguments"), f"{param}.tool_calls[{j}].function.arguments")
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": _tool_id(call.get("id")),
                        "name": function.get("name"),
                        "input": arguments,
                    }
                )
            _append(messages, "assistant", blocks)
        elif role == "tool":
            content = message.get("content")
            result = content if isinstance(content, str) else _blocks(content, f"{param}.content")
            block = {"type": "tool_result", "tool_use_id": _tool_id(message.get("tool_call_id")), "content": result}
            _append(messages, "user", [block])
        else:
            raise InvalidRequest(f"role {role!r} is not supported", f"{param}.role")
    return system, messages


def _json_instruction(response_format: dict | None) -> str | None:
    """Messages has no JSON mode: ask for it in the system prompt instead (best effort)."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return "Respond with a single valid JSON object and nothing else."
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return f"Respond with a single JSON object that matches this JSON Schema, and nothing else: {dumps_str(schema)}"
    return None


def _tool_choice(mode: str, name: str | None, parallel: bool | None) -> dict | None:
    if mode == "none":
        return {"type": "none"}
    choice = {"auto": {"type": "auto"}, "required": {"type": "any"}, "named": {"type": "tool", "name": name}}[mode]
    if parallel is False:
        choice["disable_parallel_tool_use"] = True
    elif mode == "auto":
        return None  # the default
    return choice


def usage_from_anthropic(usage: Mapping | None) -> Usage:
    usage = usage or {}
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    return Usage(
        prompt_tokens=(usage.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=usage.get("output_tokens") or 0,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def error_from_anthropic(status: int, error: Any, retry_after: float | None) -> UpstreamError:
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "upstream error")
    kind = kind_for_status(status)
    if error.get("type") == "overloaded_error":
        kind = "overloaded"
    elif kind == "bad_request" and is_context_length(message):
        kind = "context_length"
    return upstream_error(status, kind, message, retry_after)


class AnthropicStreamDecoder(SSEStreamDecoder):
    def __init__(self, *, model: str, completion_id: str):
        super().__init__()
        self._chunk = ChunkMaker(completion_id=completion_id, model=model)
        self._tool_index: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._usage: dict = {}

    def _chunks(self, events: list[SSEEvent]) -> list[dict]:
        chunks = []
        for event in events:
            data = loads_or_none(event.data)
            if isinstance(data, dict) and (chunk := self._handle(data)) is not None:
                chunks.append(chunk)
        return chunks

    def _handle(self, data: dict) -> dict | None:
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return self._chunk({"content": delta["text"]})
            tool_index = self._tool_index.get(data.get("index", 0))
            if delta.get("type") == "input_json_delta" and delta.get("partial_json") and tool_index is not None:
                return self._chunk(
                    {"tool_calls": [{"index": tool_index, "function": {"arguments": delta["partial_json"]}}]}
                )
            return None
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                tool_index = self._tool_index[data.get("index", 0)] = len(self._tool_index)
                call = {"index": tool_index, "id": block.get("id"), "type": "function"}
                call["function"] = {"name": block.get("name"), "arguments": ""}
                return self._chunk({"tool_calls": [call]})
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            return None
        if kind == "message_start":
            self._usage = dict((data.get("message") or {}).get("usage") or {})
            self.usage = usage_from_anthropic(self._usage)
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "message_delta":
            if stop_reason := (data.get("delta") or {}).get("stop_reason"):
                self.finish_reason = FINISH_REASONS.get(stop_reason, "stop")
            # Counts here are cumulative; input and cache counts are optional and override message_start's.
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            self.usage = usage_from_anthropic(self._usage)
            return None
        if kind == "message_stop":
            self.done = True
            return self._chunk({}, self.finish_reason or "stop")
        if kind == "error":
            error = data.get("error") or {}
            self.error = error_from_anthropic(ERROR_STATUS.get(error.get("type"), 500), error, None)
        return None


class AnthropicAdapter:
    def build_request(
        self,
        *,
        body: dict,
        upstream_model: str,
        base_url: str,
        api_key: str,
        extra_headers: dict,
        options: dict,
        stream: bool,
    ) -> UpstreamRequest:
        system, messages = _convert_messages(body.get("messages") or [])
        if instruction := _json_instruction(body.get("response_format")):
            system.append({"type": "text", "text": instruction})
        max_tokens = max_tokens_of(body) or options.get("max_output_tokens") or DEFAULT_MAX_TOKENS
        payload: dict = {"model": upstream_model, "max_tokens": max_tokens, "messages": messages}
        if system:
            cached = any("cache_control" in block for block in system)
            payload["system"] = system if cached else "\n\n".join(block["text"] for block in system)
        if stop := stop_list(body.get("stop")):
            payload["stop_sequences"] = stop
        if (temperature := body.get("temperature")) is not None:
            payload["temperature"] = min(max(float(temperature), 0.0), 1.0)  # OpenAI allows up to 2
        if body.get("top_p") is not None and "temperature" not in payload:
            payload["top_p"] = body["top_p"]  # recent Claude models refuse temperature and top_p together
        functions, mode, name = function_tools(body)
        if functions:
            payload["tools"] = [
                {
                    "name": f.get("name"),
                    **({"description": f["description"]} if f.get("description") else {}),
                    "input_schema": f.get("parameters") or {"type": "object", "properties": {}},
                }
                for f in functions
            ]
            if (choice := _tool_choice(mode, name, body.get("parallel_tool_calls"))) is not None:
                payload["tool_choice"] = choice
        if user := body.get("user") or body.get("safety_identifier"):
            payload["metadata"] = {"user_id": user}
        if stream:
            payload["stream"] = True
        headers = {"content-type": "application/json", "x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        headers.update(extra_headers)
        return UpstreamRequest(
            url=f"{base_url.rstrip('/')}/v1/messages", headers=headers, body=dumps(payload), stream=stream
        )

    def parse_response(self, *, payload: bytes, model: str) -> Completion:
        data = load_response(payload)
        if data.get("type") == "error":
            error = data.get("error") or {}
            raise error_from_anthropic(ERROR_STATUS.get(error.get("type"), 500), error, None)
        texts, tool_calls = [], []
        for block in data.get("content") or []:
            if block.get("type") == "text":
                texts.append(block.get("text") or "")
            elif block.get("type") == "tool_use":
                function = {"name": block.get("name"), "arguments": dumps_str(block.get("input") or {})}
                tool_calls.append({"id": block.get("id"), "type": "function", "function": function})
        usage = usage_from_anthropic(data.get("usage"))
        finish_reason = FINISH_REASONS.get(data.get("stop_reason"), "stop")
        choice = assistant_choice(index=0, text="".join(texts), tool_calls=tool_calls, finish_reason=finish_reason)
        body = completion_body(
            completion_id=f"chatcmpl-{data.get('id', '')}", model=model, choices=[choice], usage=usage
        )
        return Completion(body=body, usage=usage, finish_reason=finish_reason)

    def stream_decoder(self, *, model: str, completion_id: str) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(model=model, completion_id=completion_id)

    def parse_error(self, *, status: int, payload: bytes, headers: Mapping) -> UpstreamError:
        data = loads_or_none(payload)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            error = {"message": error_text(payload)}
        return error_from_anthropic(status, error, retry_after_from(headers))
