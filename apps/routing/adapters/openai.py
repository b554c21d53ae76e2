"""OpenAI Chat Completions and every OpenAI-compatible server (Azure, OpenRouter, Groq, vLLM, Ollama, ...).

The canonical format is this one, so requests pass through with the upstream model swapped in; streams are
re-stamped with the gateway's completion id and the client-facing model, and the usage chunk is kept back.

Options (`Provider.adapter_options`; a section may be nested, `{"azure": {...}}`, or flat, `{"azure": true, ...}`):
- `azure`: deployment URLs and the `api-key` header; `api_version` (default below).
- `openrouter`: attribution headers from `referer` / `title`; `models` (fallbacks) and `provider` (routing
  preferences) as defaults for requests that do not carry their own in `body["extra"]`.
- `stream_options: false`: for servers that reject `stream_options` (usage then comes only if they send it).
"""

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import (
    Completion,
    UpstreamError,
    UpstreamRequest,
    Usage,
    dumps,
    error_text,
    is_context_length,
    kind_for_status,
    load_response,
    loads_or_none,
    retry_after_from,
    upstream_error,
)
from .sse import SSEEvent, SSEStreamDecoder

AZURE_API_VERSION = "2024-10-21"
OPENROUTER_BODY_FIELDS = ("models", "provider")
MAX_TOOL_CALL_ID = 40


def _section(options: dict, name: str) -> dict | None:
    value = options.get(name)
    if not value:
        return None
    return value if isinstance(value, dict) else options


def _short_id(call_id: Any) -> Any:
    if not isinstance(call_id, str) or len(call_id) <= MAX_TOOL_CALL_ID:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def _cache_marked(part: Any) -> bool:
    return isinstance(part, dict) and "cache_control" in part


def _portable_messages(messages: list, *, keep_cache_control: bool) -> list:
    """History written for other providers, made acceptable to OpenAI-compatible servers.

    Tool call ids minted for Gemini carry a thought signature and can exceed OpenAI's id length limit: they
    are shortened the same way in the assistant turn and in its tool results. Anthropic-style `cache_control`
    marks (from /v1/messages clients) are dropped unless the server understands them (OpenRouter).
    """
    portable = []
    for message in messages:
        if not isinstance(message, dict):
            portable.append(message)
            continue
        content = message.get("content")
        if not keep_cache_control and isinstance(content, list) and any(_cache_marked(p) for p in content):
            parts = [{k: v for k, v in p.items() if k != "cache_control"} if _cache_marked(p) else p for p in content]
            message = {**message, "content": parts}
        if (call_id := message.get("tool_call_id")) and _short_id(call_id) is not call_id:
            message = {**message, "tool_call_id": _short_id(call_id)}
        calls = message.get("tool_calls")
        if calls and any(_short_id(c.get("id")) is not c.get("id") for c in calls):
            message = {**message, "tool_calls": [{**c, "id": _short_id(c.get("id"))} for c in calls]}
        portable.append(message)
    return portable


def usage_from_openai(usage: dict | None) -> Usage:
    usage = usage or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        # DeepSeek reports cache hits in its own field.
        cached_tokens=prompt_details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0,
        cache_write_tokens=prompt_details.get("cache_write_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def _message_and_code(data: Any, payload: bytes) -> tuple[str, str | None]:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or error_text(payload)), str(code) if code is not None else None
    if isinstance(error, str):
        return error, None
    if isinstance(data, dict):
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return data[key], None
    return error_text(payload), None


def error_from_openai(status: int, message: str, code: str | None, retry_after: float | None) -> UpstreamError:
    kind = kind_for_status(status)
    if kind == "bad_request" and is_context_length(message, code):
        kind = "context_length"
    return upstream_error(status, kind, message, retry_after)


def _stream_error(error: Any) -> UpstreamError:
    """An error sent as a `data:` event after the 200 (OpenAI, OpenRouter): its `code` is often the status."""
    if not isinstance(error, dict):
        return upstream_error(500, "server_error", str(error))
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    message = str(error.get("message") or "upstream stream error")
    return error_from_openai(status, message, str(code) if code is not None else None, None)


class OpenAIStreamDecoder(SSEStreamDecoder):
    def __init__(self, *, model: str, completion_id: str):
        super().__init__()
        self._model = model
        self._completion_id = completion_id

    def _chunks(self, events: list[SSEEvent]) -> list[dict]:
        chunks = []
        for event in events:
            if event.data == "[DONE]":
                self.done = True
                continue
            chunk = loads_or_none(event.data)
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                self.error = _stream_error(chunk["error"])
                continue
            if usage := chunk.pop("usage", None):
                self.usage = usage_from_openai(usage)
            choices = chunk.get("choices")
            if not choices:
                continue  # the usage chunk, or a keep-alive without content
            for choice in choices:
                if choice.get("finish_reason") and choice.get("index", 0) == 0:
                    self.finish_reason = choice["finish_reason"]
            chunk["id"] = self._completion_id
            chunk["model"] = self._model
            chunks.append(chunk)
        return chunks


class OpenAIAdapter:
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
        payload = {key: value for key, value in body.items() if key != "extra"}
        payload["model"] = upstream_model
        if stream:
            payload["stream"] = True
            if options.get("stream_options", True):
                # Always ask for usage: the gateway bills streamed calls even when the client did not ask.
                payload["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
            else:
                payload.pop("stream_options", None)
        else:
            payload.pop("stream", None)
            payload.pop("stream_options", None)

        base = base_url.rstrip("/")
        headers = {"content-type": "application/json"}
        if (azure := _section(options, "azure")) is not None:
            version = azure.get("api_version") or AZURE_API_VERSION
            url = f"{base}/openai/deployments/{quote(upstream_model, safe='')}/chat/completions?api-version={version}"
            headers["api-key"] = api_key
        else:
            url = f"{base}/chat/completions"
            if api_key:  # local servers (Ollama, vLLM) run without one
                headers["authorization"] = f"Bearer {api_key}"

        if (openrouter := _section(options, "openrouter")) is not None:
            if referer := openrouter.get("referer"):
                headers["http-referer"] = referer
            if title := openrouter.get("title"):
                headers["x-openrouter-title"] = title
                headers["x-title"] = title  # the older name, still read
            extra = body.get("extra") or {}
            for field in OPENROUTER_BODY_FIELDS:
                if extra.get(field):
                    payload[field] = extra[field]
                elif field not in payload and openrouter.get(field):
                    payload[field] = openrouter[field]

        if isinstance(payload.get("messages"), list):
            payload["messages"] = _portable_messages(payload["messages"], keep_cache_control=openrouter is not None)
        headers.update(extra_headers)
        return UpstreamRequest(url=url, headers=headers, body=dumps(payload), stream=stream)

    def parse_response(self, *, payload: bytes, model: str) -> Completion:
        data = load_response(payload)
        if data.get("error") and not data.get("choices"):
            # OpenRouter reports failures after routing as HTTP 200 with an error body.
            raise _stream_error(data["error"])
        data["model"] = model
        usage = usage_from_openai(data.get("usage"))
        choices = data.get("choices") or []
        finish_reason = (choices[0].get("finish_reason") if choices else None) or "stop"
        return Completion(body=data, usage=usage, finish_reason=finish_reason)

    def stream_decoder(self, *, model: str, completion_id: str) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(model=model, completion_id=completion_id)

    def parse_error(self, *, status: int, payload: bytes, headers: Mapping) -> UpstreamError:
        message, code = _message_and_code(loads_or_none(payload), payload)
        return error_from_openai(status, message, code, retry_after_from(headers))
