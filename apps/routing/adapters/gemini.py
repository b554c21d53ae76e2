"""Gemini generateContent / streamGenerateContent <-> canonical OpenAI Chat Completions.

Thought signatures: Gemini 3 attaches an opaque `thoughtSignature` to function calls and refuses a later turn
that does not send it back. OpenAI-shaped clients only keep tool call ids, so the signature rides inside the
id we mint (`call_<12 hex>_ts_<base64url signature>`) and is restored from it on the way back. Stateless:
any gateway node can continue any conversation.
"""

import base64
import mimetypes
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

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
    text_of,
    tool_arguments,
    upstream_error,
)
from .sse import SSEEvent, SSEStreamDecoder

SIGNATURE_MARK = "_ts_"
# The placeholder Gemini accepts for function calls it did not produce (another provider's turn). Widely used by
# gateways; not checked against Google's docs here.
FOREIGN_SIGNATURE = "skip_thought_signature_validator"
FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
    }
)
TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE", "named": "ANY"}
_RETRY_DELAY = re.compile(r"^([\d.]+)s$")


def mint_tool_call_id(signature: str | None = None) -> str:
    call_id = f"call_{secrets.token_hex(6)}"
    if signature:
        call_id += SIGNATURE_MARK + base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")
    return call_id


def signature_of(call_id: Any) -> str | None:
    if not isinstance(call_id, str):
        return None
    head, mark, encoded = call_id.partition(SIGNATURE_MARK)
    if not mark or not head.startswith("call_"):
        return None
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _media_part(url: str) -> dict:
    if (data_url := parse_data_url(url)) is not None:
        mime_type, data = data_url
        return {"inlineData": {"mimeType": mime_type, "data": data}}
    mime_type = mimetypes.guess_type(urlsplit(url).path)[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime_type, "fileUri": url}}


def _parts(content: Any, param: str) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            if text := part.get(kind):
                parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(_media_part(image.get("url", "") if isinstance(image, dict) else str(image or "")))
        elif kind == "file" and (file_data := (part.get("file") or {}).get("file_data")):
            parts.append(_media_part(file_data))
        else:
            raise InvalidRequest(f"content part type {kind!r} is not supported by this provider", f"{param}[{j}]")
    return parts


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _function_response(content: Any) -> dict:
    """Gemini wants an object: a JSON object result goes as is, anything else under `output`."""
    text = text_of(content)
    value = loads_or_none(text) if text[:1] == "{" else None
    return value if isinstance(value, dict) else {"output": text}


def _convert_messages(messages: list) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool call id -> function name: OpenAI tool results carry only the id
    for i, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content"), f"{param}.content"))
        elif role == "user":
            _append(contents, "user", _parts(message.get("content"), f"{param}.content"))
        elif role == "assistant":
            parts = _parts(message.get("content"), f"{param}.content")
            for j, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                names[call.get("id")] = function.get("name")
                args = tool_arguments(function.get("arguments"), f"{param}.tool_calls[{j}].function.arguments")
                part: dict = {"functionCall": {"name": function.get("name"), "args": args}}
                # Only the first call of a turn carries a signature; Gemini 3 requires it there.
                if signature := signature_of(call.get("id")) or (FOREIGN_SIGNATURE if j == 0 else None):
                    part["thoughtSignature"] = signature
                parts.append(part)
            _append(contents, "model", parts)
        elif role == "tool":
            name = names.get(message.get("tool_call_id"))
            if name is None:
                raise InvalidRequest("no earlier assistant tool call has this id", f"{param}.tool_call_id")
            response = _function_response(message.get("content"))
            _append(contents, "user", [{"functionResponse": {"name": name, "response": response}}])
        else:
            raise InvalidRequest(f"role {role!r} is not supported", f"{param}.role")
    return system, contents


def _generation_config(body: dict) -> dict:
    config: dict = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(source) is not None:
            config[target] = body[source]
    if (max_tokens := max_tokens_of(body)) is not None:
        config["maxOutputTokens"] = max_tokens
    if stop := stop_list(body.get("stop")):
        config["stopSequences"] = stop
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if response_format.get("type") == "json_schema":
        config["responseJsonSchema"] = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
    return config


def usage_from_gemini(usage: Mapping | None) -> Usage:
    usage = usage or {}
    thoughts = usage.get("thoughtsTokenCount") or 0
    return Usage(
        prompt_tokens=(usage.get("promptTokenCount") or 0) + (usage.get("toolUsePromptTokenCount") or 0),
        completion_tokens=(usage.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=usage.get("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def finish_reason_of(reason: str | None, has_tool_calls: bool) -> str:
    if reason in (None, "STOP"):
        return "tool_calls" if has_tool_calls else "stop"  # Gemini has no tool-call finish reason
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in FILTERED else "stop"


def _retry_delay(error: dict) -> float | None:
    for detail in error.get("details") or []:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("RetryInfo"):
            continue
        if match := _RETRY_DELAY.match(str(detail.get("retryDelay", ""))):
            return float(match.group(1))
    return None


def error_from_gemini(status: int, error: Any, retry_after: float | None) -> UpstreamError:
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "upstream error")
    kind = kind_for_status(status)
    reasons = {str(d.get("reason")) for d in error.get("details") or [] if isinstance(d, dict)}
    if error.get("status") == "UNAVAILABLE":
        kind = "overloaded"
    elif error.get("status") == "DEADLINE_EXCEEDED":
        kind = "timeout"
    elif status == 400 and ("API_KEY_INVALID" in reasons or "API key not valid" in message):
        kind = "auth"  # Gemini answers a bad key with 400 INVALID_ARGUMENT
    elif kind in ("bad_request", "server_error") and is_context_length(message):
        kind = "context_length"  # too long an input comes back as INVALID_ARGUMENT, sometimes as INTERNAL
    return upstream_error(status, kind, message, retry_after if retry_after is not None else _retry_delay(error))


def _candidate_output(candidate: dict) -> tuple[str, list[dict]]:
    texts, tool_calls = [], []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if part.get("thought"):
            continue  # thought summaries are not answer text
        if "text" in part:
            texts.append(part["text"])
        elif call := part.get("functionCall"):
            function = {"name": call.get("name"), "arguments": dumps_str(call.get("args") or {})}
            tool_call_id = mint_tool_call_id(part.get("thoughtSignature"))
            tool_calls.append({"id": tool_call_id, "type": "function", "function": function})
    return "".join(texts), tool_calls


class GeminiStreamDecoder(SSEStreamDecoder):
    keep_unknown = True

    def __init__(self, *, model: str, completion_id: str):
        super().__init__()
        self._chunk = ChunkMaker(completion_id=completion_id, model=model)
        self._started = False
        self._tool_counts: dict[int, int] = {}  # candidate index -> tool calls so far
        self._stray: list[str] = []  # lines of a bare JSON error object

    def _chunks(self, events: list[SSEEvent]) -> list[dict]:
        chunks: list[dict] = []
        for event in events:
            data = loads_or_none(event.data)
            if isinstance(data, dict):
                chunks.extend(self._handle(data))
        if self._sse.unknown:
            # An error after the stream started comes as a bare (often multi-line) JSON object, not an event.
            self._stray.extend(self._sse.unknown)
            self._sse.unknown.clear()
            data = loads_or_none("\n".join(self._stray))
            if isinstance(data, dict):
                self._stray.clear()
                self._handle(data)
        return chunks

    def _handle(self, data: dict) -> list[dict]:
        if error := data.get("error"):
            status = error.get("code") if isinstance(error, dict) else None
            self.error = error_from_gemini(status if isinstance(status, int) else 500, error, None)
            return []
        chunks = []
        if not self._started:
            self._started = True
            chunks.append(self._chunk({"role": "assistant", "content": ""}))
        if usage := data.get("usageMetadata"):
            self.usage = usage_from_gemini(usage)  # the last one is authoritative
        candidates = data.get("candidates") or []
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            text, tool_calls = _candidate_output(candidate)
            if text:
                chunks.append(self._chunk({"content": text}, index=index))
            if tool_calls:
                first = self._tool_counts.get(index, 0)
                self._tool_counts[index] = first + len(tool_calls)
                for offset, call in enumerate(tool_calls):
                    call["index"] = first + offset
                chunks.append(self._chunk({"tool_calls": tool_calls}, index=index))
            if reason := candidate.get("finishReason"):
                finish_reason = finish_reason_of(reason, self._tool_counts.get(index, 0) > 0)
                chunks.append(self._chunk({}, finish_reason, index=index))
                if index == 0:
                    self.finish_reason, self.done = finish_reason, True
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            self.finish_reason, self.done = "content_filter", True
            chunks.append(self._chunk({}, "content_filter"))
        return chunks


class GeminiAdapter:
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
        system, contents = _convert_messages(body.get("messages") or [])
        payload: dict = {"contents": contents}
        if system:
            payload["systemInstruction"] = {"parts": system}
        functions, mode, name = function_tools(body)
        if functions:
            declarations = []
            for function in functions:
                declaration = {"name": function.get("name")}
                if function.get("description"):
                    declaration["description"] = function["description"]
                if function.get("parameters"):
                    declaration["parametersJsonSchema"] = function["parameters"]
                declarations.append(declaration)
            payload["tools"] = [{"functionDeclarations": declarations}]
            if body.get("tool_choice") is not None:
                calling: dict = {"mode": TOOL_MODES[mode]}
                if mode == "named":
                    calling["allowedFunctionNames"] = [name]
                payload["toolConfig"] = {"functionCallingConfig": calling}
        if config := _generation_config(body):
            payload["generationConfig"] = config
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base_url.rstrip('/')}/v1beta/models/{quote(upstream_model, safe='')}:{method}"
        headers = {"content-type": "application/json", "x-goog-api-key": api_key}
        headers.update(extra_headers)
        return UpstreamRequest(url=url, headers=headers, body=dumps(payload), stream=stream)

    def parse_response(self, *, payload: bytes, model: str) -> Completion:
        data = load_response(payload)
        if error := data.get("error"):
            status = error.get("code") if isinstance(error, dict) else None
            raise error_from_gemini(status if isinstance(status, int) else 500, error, None)
        usage = usage_from_gemini(data.get("usageMetadata"))
        choices = []
        for position, candidate in enumerate(data.get("candidates") or []):
            text, tool_calls = _candidate_output(candidate)
            finish_reason = finish_reason_of(candidate.get("finishReason"), bool(tool_calls))
            index = candidate.get("index", position)
            choices.append(assistant_choice(index=index, text=text, tool_calls=tool_calls, finish_reason=finish_reason))
        if not choices:
            blocked = bool((data.get("promptFeedback") or {}).get("blockReason"))
            finish_reason = "content_filter" if blocked else "stop"
            choices.append(assistant_choice(index=0, text="", tool_calls=[], finish_reason=finish_reason))
        completion_id = f"chatcmpl-{data.get('responseId') or secrets.token_hex(12)}"
        body = completion_body(completion_id=completion_id, model=model, choices=choices, usage=usage)
        return Completion(body=body, usage=usage, finish_reason=choices[0]["finish_reason"])

    def stream_decoder(self, *, model: str, completion_id: str) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(model=model, completion_id=completion_id)

    def parse_error(self, *, status: int, payload: bytes, headers: Mapping) -> UpstreamError:
        data = loads_or_none(payload)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]  # the non-SSE stream endpoint wraps everything in an array
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            error = {"message": error_text(payload)}
        return error_from_gemini(status, error, retry_after_from(headers))
