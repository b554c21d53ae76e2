"""Shared types of the translation layer: the canonical format is OpenAI Chat Completions.

Adapters are pure: they build upstream requests and parse upstream bytes, the gateway does the I/O.
JSON goes through orjson (compact output, bytes in and out) because every stream chunk passes through here.
"""

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import orjson

ERROR_KINDS = frozenset(
    {
        "rate_limit",
        "overloaded",
        "server_error",
        "timeout",
        "context_length",
        "auth",
        "bad_request",
        "not_found",
        "permission",
    }
)
# Kinds where another candidate (or a later attempt) may succeed: the gateway falls back on these.
RETRYABLE_KINDS = frozenset({"rate_limit", "overloaded", "server_error", "timeout", "context_length"})

_CONTEXT_LENGTH = re.compile(
    r"context[ _](length|window)|maximum context|context (is )?too long|prompt is too long|too many (input )?tokens"
    r"|token count.{0,40}exceed|exceeds? the maximum number of tokens",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Usage:
    """Token counts with OpenAI semantics: prompt includes cache reads/writes, completion includes reasoning."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
            },
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    stream: bool


@dataclass(eq=False)  # identity equality keeps exceptions hashable
class UpstreamError(Exception):
    """A provider failure, normalised so the router can decide whether to fall back (`retryable`)."""

    status: int
    kind: str
    message: str
    retry_after: float | None = None
    retryable: bool = False

    def __post_init__(self) -> None:
        self.args = (self.status, self.kind, self.message, self.retry_after, self.retryable)  # pickles and copies

    def __str__(self) -> str:
        return f"{self.status} {self.kind}: {self.message}"


@dataclass(slots=True)
class Completion:
    body: dict  # an OpenAI chat.completion
    usage: Usage
    finish_reason: str


class InvalidRequest(ValueError):
    """The request cannot be expressed in the target format; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param


class StreamDecoder(Protocol):
    usage: Usage | None
    finish_reason: str | None
    error: UpstreamError | None
    done: bool  # the upstream signalled a normal end; False after a cut stream

    def feed(self, data: bytes) -> list[dict]: ...

    def close(self) -> list[dict]: ...


class Adapter(Protocol):
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
    ) -> UpstreamRequest: ...

    def parse_response(self, *, payload: bytes, model: str) -> Completion: ...

    def stream_decoder(self, *, model: str, completion_id: str) -> StreamDecoder: ...

    def parse_error(self, *, status: int, payload: bytes, headers: Mapping) -> UpstreamError: ...


# --- helpers shared by the adapters ----------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def loads_or_none(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def load_response(payload: bytes) -> dict:
    """A 2xx body that is not a JSON object is a provider fault, not a client one."""
    data = loads_or_none(payload)
    if not isinstance(data, dict):
        raise upstream_error(502, "server_error", f"invalid JSON from upstream: {error_text(payload)[:200]}")
    return data


def upstream_error(status: int, kind: str, message: str, retry_after: float | None = None) -> UpstreamError:
    return UpstreamError(
        status=status, kind=kind, message=message, retry_after=retry_after, retryable=kind in RETRYABLE_KINDS
    )


def kind_for_status(status: int) -> str:
    if status == 401:
        return "auth"
    if status in (402, 403):
        return "permission"
    if status == 404:
        return "not_found"
    if status in (408, 504):
        return "timeout"
    if status == 429:
        return "rate_limit"
    if status in (503, 529):
        return "overloaded"
    if status >= 500 or status == 409:
        return "server_error"
    return "bad_request"


def is_context_length(message: str, code: str | None = None) -> bool:
    return code == "context_length_exceeded" or bool(_CONTEXT_LENGTH.search(message or ""))


def retry_after_from(headers: Mapping) -> float | None:
    """Seconds to wait, from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_text(payload: bytes) -> str:
    """A readable message from a body that is not the provider's error JSON (proxy pages, plain text)."""
    return payload[:500].decode("utf-8", "replace").strip() or "empty error body"


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", "refusal"))


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(mime type, base64 data) of a `data:<mime>;base64,<data>` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header.removesuffix(";base64") or "application/octet-stream", data


def max_tokens_of(body: dict) -> int | None:
    value = body.get("max_completion_tokens")
    return value if value is not None else body.get("max_tokens")


def function_tools(body: dict) -> tuple[list[dict], str, str | None]:
    """The request's function definitions and its tool_choice as (mode, forced name).

    mode is auto, required, none or named; the "allowed tools" form narrows the list instead.
    """
    functions = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or "function" not in tool:
            raise InvalidRequest("only function tools are supported", f"tools[{i}]")
        functions.append(tool["function"])
    choice = body.get("tool_choice")
    if choice in ("none", "required"):
        return functions, choice, None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return functions, "named", (choice.get("function") or {}).get("name")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {t.get("name") or (t.get("function") or {}).get("name") for t in allowed.get("tools") or []}
        mode = "required" if allowed.get("mode") == "required" else "auto"
        return [f for f in functions if f.get("name") in names], mode, None
    return functions, "auto", None


def tool_arguments(arguments: Any, param: str) -> dict:
    """An assistant tool call's `arguments` JSON string as the object Anthropic and Gemini want."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments or not str(arguments).strip():
        return {}
    value = loads_or_none(arguments)
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param)
    return value


def stop_list(stop: Any) -> list[str]:
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


class ChunkMaker:
    """Builds OpenAI `chat.completion.chunk` dicts for one stream."""

    __slots__ = ("base",)

    def __init__(self, *, completion_id: str, model: str):
        self.base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def __call__(self, delta: dict, finish_reason: str | None = None, index: int = 0) -> dict:
        return {**self.base, "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}]}


def completion_body(*, completion_id: str, model: str, choices: list[dict], usage: Usage) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage.to_openai(),
    }


def assistant_choice(*, index: int, text: str, tool_calls: list[dict], finish_reason: str) -> dict:
    message: dict = {"role": "assistant", "content": text if text or not tool_calls else None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "finish_reason": finish_reason, "logprobs": None}
