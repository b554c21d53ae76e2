"""The gateway's Anthropic-compatible `/v1/messages`: Anthropic in and out, canonical OpenAI in between.

Requests become canonical OpenAI requests (so any provider can serve them), completions and chunk streams
become Anthropic messages and SSE events. Invalid input raises InvalidRequest naming the field the way
Anthropic does (`messages.0.content.1.type`); the gateway answers 400 with `error_body`.
"""

import secrets
from typing import Any

from .base import Completion, InvalidRequest, Usage, dumps, dumps_str, loads_or_none, text_of

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "server_error": "api_error",
    "timeout": "timeout_error",
    "context_length": "invalid_request_error",
    "auth": "authentication_error",
    "bad_request": "invalid_request_error",
    "not_found": "not_found_error",
    "permission": "permission_error",
}
_THINKING = ("thinking", "redacted_thinking")


# --- request: Anthropic -> canonical OpenAI ---------------------------------------------------------------------


def _text_part(block: dict, text: str) -> dict:
    part = {"type": "text", "text": text}
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]  # kept for Anthropic upstreams (and OpenRouter)
    return part


def _media_part(block: dict, param: str) -> dict:
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    kind = source.get("type")
    if block["type"] == "document" and kind == "text":
        return _text_part(block, str(source.get("data") or ""))
    if kind == "base64" and source.get("media_type") and source.get("data"):
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif kind == "url" and source.get("url"):
        url = source["url"]
    else:
        raise InvalidRequest("unsupported source; use base64 or url", f"{param}.source")
    if block["type"] == "document":
        return {"type": "file", "file": {"file_data": url, "filename": block.get("title") or "document"}}
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: dict, param: str) -> tuple[dict, list[dict]]:
    """A tool message, plus any images in the result: OpenAI tool messages hold text only, so they follow."""
    content = block.get("content")
    images: list[dict] = []
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text":
                texts.append(str(inner.get("text") or ""))
            elif kind in ("image", "document"):
                images.append(_media_part(inner, f"{param}.content.{k}"))
            else:
                raise InvalidRequest(f"unsupported block type {kind!r}", f"{param}.content.{k}.type")
        text = "\n".join(texts)
    else:
        raise InvalidRequest("must be a string or a list of blocks", f"{param}.content")
    if not isinstance(block.get("tool_use_id"), str):
        raise InvalidRequest("Field required", f"{param}.tool_use_id")
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}, images


def _user_messages(content: list, param: str) -> list[dict]:
    tool_messages: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"{param}.{j}"
        if kind == "text":
            parts.append(_text_part(block, str(block.get("text") or "")))
        elif kind in ("image", "document"):
            parts.append(_media_part(block, where))
        elif kind == "tool_result":
            message, images = _tool_result(block, where)
            tool_messages.append(message)
            parts.extend(images)
        elif kind not in _THINKING:
            raise InvalidRequest(f"unsupported block type {kind!r}", f"{where}.type")
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _assistant_message(content: list, param: str) -> dict:
    texts, tool_calls = [], []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise InvalidRequest("tool_use needs an id and a name", f"{param}.{j}")
            function = {"name": block["name"], "arguments": dumps_str(block.get("input") or {})}
            tool_calls.append({"id": block["id"], "type": "function", "function": function})
        elif kind not in _THINKING:  # thinking is provider-specific and has no canonical form
            raise InvalidRequest(f"unsupported block type {kind!r}", f"{param}.{j}.type")
    message: dict = {"role": "assistant", "content": "".join(texts) or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _system_message(system: Any) -> dict | None:
    if system is None or system == "" or system == []:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system}
    if not isinstance(system, list):
        raise InvalidRequest("must be a string or a list of text blocks", "system")
    parts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest("only text blocks are allowed", f"system.{j}.type")
        parts.append(_text_part(block, str(block.get("text") or "")))
    if not any("cache_control" in part for part in parts):
        return {"role": "system", "content": "\n\n".join(part["text"] for part in parts)}
    return {"role": "system", "content": parts}


def _tools(tools: Any) -> list[dict]:
    if not isinstance(tools, list):
        raise InvalidRequest("must be a list", "tools")
    converted = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequest("Field required", f"tools.{i}.name")
        if tool.get("type") not in (None, "custom"):
            raise InvalidRequest(
                f"server tool {tool.get('type')!r} is not supported by this gateway", f"tools.{i}.type"
            )
        function = {
            "name": tool["name"],
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        converted.append({"type": "function", "function": function})
    return converted


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """(OpenAI tool_choice, parallel calls allowed)."""
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise InvalidRequest("type must be one of auto, any, tool, none", "tool_choice.type")
    kind = choice["type"]
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidRequest("Field required", "tool_choice.name")
        openai_choice: Any = {"type": "function", "function": {"name": choice["name"]}}
    else:
        openai_choice = {"auto": "auto", "any": "required", "none": "none"}[kind]
    return openai_choice, not choice.get("disable_parallel_tool_use")


def request_to_openai(body: Any) -> dict:
    """An Anthropic Messages request as a canonical OpenAI chat completions request."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("Field required", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("must be a positive integer", "max_tokens")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidRequest("must be a non-empty list", "messages")

    messages: list[dict] = []
    if (system := _system_message(body.get("system"))) is not None:
        messages.append(system)
    for i, message in enumerate(body["messages"]):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise InvalidRequest("Input should be 'user' or 'assistant'", f"messages.{i}.role")
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
        elif not isinstance(content, list):
            raise InvalidRequest("must be a string or a list of blocks", f"messages.{i}.content")
        elif role == "user":
            messages.extend(_user_messages(content, f"messages.{i}.content"))
        else:
            messages.append(_assistant_message(content, f"messages.{i}.content"))

    request: dict = {"model": body["model"], "messages": messages, "max_tokens": max_tokens}
    for field in ("temperature", "top_p"):
        if body.get(field) is not None:
            request[field] = body[field]
    if stop := body.get("stop_sequences"):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequest("must be a list of strings", "stop_sequences")
        request["stop"] = stop
    if body.get("tools"):
        request["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            request["tool_choice"], parallel = _tool_choice(body["tool_choice"])
            if not parallel:
                request["parallel_tool_calls"] = False
    if user_id := (body.get("metadata") or {}).get("user_id"):
        request["user"] = str(user_id)
    if body.get("stream"):
        request["stream"] = True
    return request


# --- response: canonical OpenAI -> Anthropic --------------------------------------------------------------------


def message_id_of(completion_id: str) -> str:
    bare = completion_id.removeprefix("chatcmpl-")
    return bare if bare.startswith("msg_") else f"msg_{bare}"


def usage_to_anthropic(usage: Usage) -> dict:
    """Anthropic's input_tokens excludes cache reads and writes, OpenAI's prompt_tokens includes them."""
    return {
        "input_tokens": max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens),
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def message_from_completion(completion: Completion) -> dict:
    body = completion.body
    message = (body.get("choices") or [{}])[0].get("message") or {}
    content: list[dict] = []
    if text := text_of(message.get("content")) or message.get("refusal") or "":
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = loads_or_none(function.get("arguments") or "{}")
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments if isinstance(arguments, dict) else {},
            }
        )
    return {
        "id": message_id_of(str(body.get("id") or "")),
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": STOP_REASONS.get(completion.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": usage_to_anthropic(completion.usage),
    }


def error_body(error_type: str, message: str) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_type_for(kind: str) -> str:
    """The Anthropic error type for an UpstreamError kind."""
    return ERROR_TYPES.get(kind, "api_error")


def sse_event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class MessagesStreamEncoder:
    """Canonical OpenAI chunks in, Anthropic SSE events out, in the order the Messages API sends them.

    `input_tokens` is what message_start reports (an estimate, or 0); the exact counts go in message_delta,
    whose usage Anthropic clients read as final.
    """

    def __init__(self, *, message_id: str, model: str, input_tokens: int = 0):
        self._message_id = message_id
        self._model = model
        self._input_tokens = input_tokens
        self._started = False
        self._blocks = 0  # content blocks opened so far
        self._open: str | None = None  # "text" or "tool" while a block is open
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._finish_reason: str | None = None

    def feed(self, chunk: dict) -> list[bytes]:
        events = self._start()
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # Messages has a single answer
            delta = choice.get("delta") or {}
            if text := delta.get("content") or delta.get("refusal"):
                if self._open != "text":
                    events += self._open_block({"type": "text", "text": ""}, "text")
                delta_event = {"type": "text_delta", "text": text}
                events.append(self._delta(self._blocks - 1, delta_event))
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def finish(
        self, usage: Usage | None, finish_reason: str | None = None, extra_usage: dict | None = None
    ) -> list[bytes]:
        """`extra_usage` adds gateway fields (Switchyard's `cost`) to the final usage."""
        events = self._start() + self._close_block()
        reason = finish_reason or self._finish_reason or "stop"
        usage_fields = {**(usage_to_anthropic(usage) if usage else {"output_tokens": 0}), **(extra_usage or {})}
        delta = {"stop_reason": STOP_REASONS.get(reason, "end_turn"), "stop_sequence": None}
        events.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_fields}))
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return events

    def error(self, error_type: str, message: str) -> list[bytes]:
        """A failure after the 200: Anthropic clients expect an `error` event."""
        return [sse_event("error", error_body(error_type, message))]

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens, "output_tokens": 0},
        }
        return [sse_event("message_start", {"type": "message_start", "message": message})]

    def _tool_delta(self, call: dict) -> list[bytes]:
        events: list[bytes] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        if index not in self._tool_blocks:
            block = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{secrets.token_hex(12)}",
                "name": function.get("name"),
                "input": {},
            }
            events += self._open_block(block, "tool")
            self._tool_blocks[index] = self._blocks - 1
        if arguments := function.get("arguments"):
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(self._delta(self._tool_blocks[index], delta))
        return events

    def _open_block(self, block: dict, kind: str) -> list[bytes]:
        events = self._close_block()
        start = {"type": "content_block_start", "index": self._blocks, "content_block": block}
        events.append(sse_event("content_block_start", start))
        self._blocks += 1
        self._open = kind
        return events

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": self._blocks - 1})]

    def _delta(self, index: int, delta: dict) -> bytes:
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
