"""POST /v1/chat/completions and POST /v1/messages: authenticate, validate, resolve, call, stream, record."""

import asyncio
import contextlib
import secrets
from dataclasses import dataclass

import aiohttp
import orjson
from django.conf import settings

from apps.routing.adapters import Adapter, InvalidRequest, UpstreamError, Usage, adapter_for, messages_api
from apps.routing.health import health_tracker

from . import admission, context, planning
from .context import CallerContext, Credential, ModelRoute
from .errors import GatewayError, bad_request
from .http import (
    ClientDisconnected,
    Receive,
    Send,
    encode_headers,
    header,
    read_body,
    send_json,
    start_stream,
    stream_bytes,
)
from .recording import CallRecord
from .upstream import open_upstream
from .validation import validate_chat_request

OPENAI = "openai"
ANTHROPIC = "anthropic"
UPSTREAM_STATUS = {
    "rate_limit": 429,
    "timeout": 504,
    "context_length": 400,
    "bad_request": 400,
    "circuit_open": 503,
}


def new_generation_id() -> str:
    return "gen-" + secrets.token_hex(12)


def _secret_from(scope: dict, wire: str) -> str | None:
    authorization = header(scope, b"authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    if wire == ANTHROPIC:
        return header(scope, b"x-api-key")
    return None


async def authenticate(scope: dict, wire: str) -> CallerContext:
    secret = _secret_from(scope, wire)
    if not secret:
        raise GatewayError(401, "Missing API key: send 'Authorization: Bearer sk-sy-…'.", code="missing_api_key")
    caller = await context.caller_for_secret(secret)
    if caller is None:
        raise GatewayError(401, "Invalid, revoked or expired API key.", code="invalid_api_key")
    return caller


async def resolve_model(caller: CallerContext, name: str) -> ModelRoute:
    """A canonical id or alias from the catalog; a bare upstream name (`gpt-4o-mini`) matches an installed model."""
    route = await context.models.get(name)
    if route is None and "/" not in name and len(matches := caller.installed_by_short_name.get(name, ())) == 1:
        route = await context.models.get(matches[0])
    if route is None:
        raise GatewayError(404, f"The model '{name}' is not in the catalog.", code="model_not_found", param="model")
    if not route.enabled or not route.provider_enabled:
        raise GatewayError(403, f"The model '{route.model_id}' is disabled.", code="model_disabled", param="model")
    if not caller.plan_allows_all and route.model_id not in caller.plan_allowed:
        raise GatewayError(
            403,
            f"The {caller.plan_name} plan does not include '{route.model_id}'. Upgrade the workspace's plan to use it.",
            code="model_not_allowed",
            param="model",
        )
    if route.model_id not in caller.installed:
        raise GatewayError(
            403,
            f"The model '{route.model_id}' is not installed in this workspace. Install it from the marketplace first.",
            code="model_not_installed",
            param="model",
        )
    return route


def credential(caller: CallerContext, route: ModelRoute) -> Credential:
    found = context.credential_for(caller, route, agent_id=caller.agent_id)
    if found is None:
        raise GatewayError(
            403,
            f"No API key for provider {route.provider_name}: add a BYOK key for it, "
            "or ask staff to set its platform key.",
            code="provider_key_missing",
        )
    return found


def upstream_failure(error: UpstreamError) -> GatewayError:
    """Upstream errors as the client sees them: 429 stays 429, timeouts are 504, other failures 502."""
    status = UPSTREAM_STATUS.get(error.kind, 502)
    headers = {"retry-after": str(max(1, round(error.retry_after)))} if error.retry_after is not None else {}
    code = {
        "context_length": "context_length_exceeded",
        "rate_limit": "upstream_rate_limited",
        "circuit_open": "model_unavailable",
    }.get(error.kind)
    return GatewayError(
        status,
        f"Provider error: {error.message}",
        code=code or f"upstream_{error.kind}",
        headers=headers,
        error_type=f"upstream_{error.kind}",
    )


@dataclass
class Prepared:
    record: CallRecord
    body: dict  # canonical OpenAI request
    candidates: list[ModelRoute]  # the model asked for, then its fallbacks, in order
    stream: bool
    agent_id: int | None = None  # the agent the request runs as (its BYOK keys come first)
    attempt_started: int = 0  # ms into the request when the current attempt began
    # The candidate being tried:
    route: ModelRoute | None = None
    adapter: Adapter | None = None
    credential: Credential | None = None
    hold: "admission.Hold | None" = None  # what admission holds for the call until it settles


async def read_request(scope: dict, receive: Receive, record: CallRecord, wire: str) -> dict:
    """Authenticate, parse and validate: the canonical OpenAI request body."""
    raw = await read_body(receive, limit=settings.GATEWAY_MAX_BODY_BYTES)
    record.caller = await authenticate(scope, wire)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON.", code="invalid_json") from None
    if wire == ANTHROPIC:
        try:
            parsed = messages_api.request_to_openai(parsed)
        except InvalidRequest as exc:
            raise bad_request(str(exc), param=exc.param) from None
    body = validate_chat_request(parsed)
    record.requested_model = body["model"]
    record.streamed = bool(body.get("stream"))
    return body


async def plan_route(scope: dict, record: CallRecord, body: dict) -> planning.Plan:
    plan = await planning.decide(
        scope, record.caller, body, resolve=resolve_model, open_circuits=await health_tracker().open_circuits()
    )
    record.agent_id = plan.agent.pk if plan.agent else None
    record.routing = plan.decision.as_dict(max_listed=settings.ROUTER_EXPLANATION_MAX_LISTED)
    return plan


async def prepare(scope: dict, receive: Receive, record: CallRecord, wire: str) -> Prepared:
    body = await read_request(scope, receive, record, wire)
    plan = await plan_route(scope, record, body)
    candidates = plan.chain
    if not candidates:
        raise planning.no_route_error(plan)
    record.route = candidates[0]
    return Prepared(record, body, candidates, record.streamed, agent_id=record.agent_id)


_observations: set[asyncio.Task] = set()


def observe(route: ModelRoute, *, ok: bool, error_kind: str | None = None, latency_ms=None, ttft_ms=None) -> None:
    """Tell the health tracker how an attempt went, off the response's path (a Redis round trip the client need
    not wait for)."""
    task = asyncio.create_task(
        health_tracker().record(
            route.model_id, route.provider_slug, ok=ok, error_kind=error_kind, latency_ms=latency_ms, ttft_ms=ttft_ms
        )
    )
    _observations.add(task)
    task.add_done_callback(_observations.discard)


def observe_success(prepared: "Prepared") -> None:
    record = prepared.record
    ttft = record.ttft_ms - prepared.attempt_started if record.ttft_ms is not None else None
    observe(prepared.route, ok=True, latency_ms=record.elapsed_ms() - prepared.attempt_started, ttft_ms=ttft)


def _deadline_left(record: CallRecord) -> float:
    return settings.GATEWAY_REQUEST_DEADLINE - record.elapsed_ms() / 1000


async def open_with_fallback(prepared: Prepared) -> aiohttp.ClientResponse:
    """Try each candidate in turn until one answers. A retryable failure (429, 5xx, 529, timeout, connection
    error, context too long) moves on while candidates and the request's deadline last; nothing has reached the
    client yet, so the switch is invisible to it. Every attempt is kept on the usage record."""
    record = prepared.record
    last_error: UpstreamError | None = None
    for position, route in enumerate(prepared.candidates):
        found = context.credential_for(record.caller, route, agent_id=prepared.agent_id)
        if found is None:  # the planner leaves keyless models out; a key removed since is skipped the same way
            record.attempts.append(
                {
                    "model": route.model_id,
                    "provider": route.provider_slug,
                    "status": None,
                    "error": "provider_key_missing",
                    "latency_ms": 0,
                }
            )
            continue
        admission = await health_tracker().admit(route.model_id)
        if not admission.allowed:  # opened since the plan was made, or another process holds the probe
            record.attempts.append(
                {"model": route.model_id, "provider": route.provider_slug, "status": None, "error": "circuit_open",
                 "latency_ms": 0}
            )  # fmt: skip
            if last_error is None:
                last_error = UpstreamError(
                    503, "circuit_open", f"{route.model_id} is failing right now (circuit open); retry shortly.",
                    admission.retry_after, True,
                )  # fmt: skip
            continue
        prepared.route, prepared.adapter, prepared.credential = route, adapter_for(route.adapter_kind), found
        record.route, record.is_byok = route, found.is_byok
        try:
            return await _open(prepared)
        except UpstreamError as error:
            last_error = error
            is_last = position == len(prepared.candidates) - 1
            if not error.retryable or is_last or _deadline_left(record) <= 0:
                raise
    if last_error is None:
        raise GatewayError(403, "No API key for any provider of this request's models.", code="provider_key_missing")
    raise last_error


async def _open(prepared: Prepared) -> aiohttp.ClientResponse:
    """Send the call upstream; an error status is read and raised as an UpstreamError."""
    route = prepared.route
    try:
        request = prepared.adapter.build_request(
            body=prepared.body,
            upstream_model=route.upstream_name,
            base_url=route.base_url,
            api_key=prepared.credential.secret,
            extra_headers=route.extra_headers,
            options=route.adapter_options,
            stream=prepared.stream,
        )
    except InvalidRequest as exc:
        raise bad_request(str(exc), param=exc.param) from None
    attempt = {"model": route.model_id, "provider": route.provider_slug}
    prepared.record.attempts.append(attempt)
    started = prepared.attempt_started = prepared.record.elapsed_ms()
    try:
        response = await open_upstream(route.provider_slug, request, deadline=_deadline_left(prepared.record))
        if response.status >= 400:
            payload = await response.read()
            response.release()
            raise prepared.adapter.parse_error(status=response.status, payload=payload, headers=response.headers)
    except UpstreamError as exc:
        attempt.update(status=exc.status, error=exc.kind, latency_ms=prepared.record.elapsed_ms() - started)
        observe(route, ok=False, error_kind=exc.kind)
        raise _without_secret(exc, prepared) from None
    attempt.update(status=response.status, error=None, latency_ms=prepared.record.elapsed_ms() - started)
    return response


def _without_secret(error: UpstreamError, prepared: Prepared) -> UpstreamError:
    """Providers may echo the key they refused: the client gets no upstream text for a refused key, and no key
    in any other message (a BYOK or platform key is never shown, even to its own workspace)."""
    route, credential = prepared.route, prepared.credential
    if error.kind in ("auth", "permission"):
        whose = "this workspace's own (BYOK)" if credential.is_byok else "the platform's"
        error.message = f"{route.provider_name} refused {whose} API key."
    elif credential.secret and credential.secret in error.message:
        error.message = error.message.replace(credential.secret, "[key]")
    return error


def _response_headers(record: CallRecord, *, with_cost: bool) -> dict[str, str]:
    headers = {
        "x-switchyard-generation-id": record.generation_id,
        "x-switchyard-model": record.route.model_id,
        "x-switchyard-provider": record.route.provider_slug,
    }
    if with_cost:
        headers["x-switchyard-cost"] = "unknown" if record.cost is None else str(record.cost)
    headers.update(admission.rate_limit_headers(record.rate_states))
    return headers


def _cost_number(record: CallRecord) -> float | None:
    return None if record.cost is None else float(record.cost)


async def complete(prepared: Prepared, send: Send, wire: str) -> None:
    record = prepared.record
    response = await open_with_fallback(prepared)
    try:
        payload = await response.read()
    except TimeoutError:
        raise upstream_failure(
            UpstreamError(504, "timeout", "The provider did not finish in time.", None, True)
        ) from None
    except aiohttp.ClientError as exc:
        raise upstream_failure(
            UpstreamError(502, "server_error", f"Broken answer: {exc.__class__.__name__}.", None, True)
        ) from None
    finally:
        response.release()
    record.mark_first_byte()
    try:
        completion = prepared.adapter.parse_response(payload=payload, model=prepared.route.model_id)
    except UpstreamError as exc:
        raise upstream_failure(exc) from None
    record.usage, record.finish_reason = completion.usage, completion.finish_reason
    record.settle()
    observe_success(prepared)
    if wire == ANTHROPIC:
        completion.body["id"] = record.generation_id
        body = messages_api.message_from_completion(completion)
    else:
        body = completion.body
        body["id"] = record.generation_id
    body["usage"]["cost"] = _cost_number(record)
    await send_json(send, 200, body, encode_headers(_response_headers(record, with_cost=True)))


def _estimate_usage(prepared: Prepared, streamed_chars: int) -> Usage:
    """When a stream breaks before the provider's usage arrives, count roughly rather than charge nothing."""
    prompt_chars = len(orjson.dumps(prepared.body.get("messages")))
    return Usage(prompt_tokens=max(1, prompt_chars // 4), completion_tokens=streamed_chars // 4)


class OpenAIStreamRenderer:
    def __init__(self, record: CallRecord, include_usage: bool):
        self.record = record
        self.include_usage = include_usage

    def chunk(self, chunk: dict) -> bytes:
        chunk["id"] = self.record.generation_id
        if self.include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def finish(self, usage: Usage, finish_reason: str | None) -> bytes:
        tail = b""
        if self.include_usage:
            usage_body = {**usage.to_openai(), "cost": _cost_number(self.record)}
            chunk = {
                "id": self.record.generation_id,
                "object": "chat.completion.chunk",
                "model": self.record.route.model_id,
                "choices": [],
                "usage": usage_body,
            }
            tail = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return tail + b"data: [DONE]\n\n"

    def error(self, error: GatewayError) -> bytes:
        return b"data: " + orjson.dumps(error.openai_body()) + b"\n\n"


class AnthropicStreamRenderer:
    def __init__(self, record: CallRecord):
        self.record = record
        self.encoder = messages_api.MessagesStreamEncoder(
            message_id=messages_api.message_id_of(record.generation_id), model=record.route.model_id
        )

    def chunk(self, chunk: dict) -> bytes:
        return b"".join(self.encoder.feed(chunk))

    def finish(self, usage: Usage, finish_reason: str | None) -> bytes:
        return b"".join(self.encoder.finish(usage, finish_reason, extra_usage={"cost": _cost_number(self.record)}))

    def error(self, error: GatewayError) -> bytes:
        body = error.anthropic_body()["error"]
        return b"".join(self.encoder.error(body["type"], body["message"]))


async def stream(prepared: Prepared, send: Send, wire: str, disconnected: asyncio.Event) -> None:
    record = prepared.record
    response = await open_with_fallback(prepared)
    if wire == ANTHROPIC:
        renderer = AnthropicStreamRenderer(record)
    else:
        renderer = OpenAIStreamRenderer(record, bool((prepared.body.get("stream_options") or {}).get("include_usage")))
    decoder = prepared.adapter.stream_decoder(model=prepared.route.model_id, completion_id=record.generation_id)
    streamed_chars = 0
    failure: GatewayError | None = None
    failure_kind = "connection"  # what the health tracker is told when the stream fails
    try:
        await start_stream(send, encode_headers(_response_headers(record, with_cost=False)))
        async for data in response.content.iter_any():
            record.mark_first_byte()
            if disconnected.is_set():
                raise ClientDisconnected
            out = []
            for chunk in decoder.feed(data):
                for choice in chunk.get("choices") or ():
                    streamed_chars += len((choice.get("delta") or {}).get("content") or "")
                out.append(renderer.chunk(chunk))
            if out:
                await stream_bytes(send, b"".join(out))
            if decoder.error is not None:
                break
        for chunk in decoder.close():
            await stream_bytes(send, renderer.chunk(chunk))
        if decoder.error is not None:
            failure, failure_kind = upstream_failure(decoder.error), decoder.error.kind
        elif not decoder.done:
            failure = GatewayError(502, "The provider's stream ended before it finished.", code="upstream_stream_cut")
    except TimeoutError:
        failure_kind = "timeout"
        failure = GatewayError(
            504, "The provider stopped sending in the middle of the stream.", code="upstream_timeout"
        )
    except aiohttp.ClientError:
        failure = GatewayError(502, "The provider's stream broke off.", code="upstream_stream_cut")
    finally:
        # Also when the client hung up: what was generated so far is counted and costed.
        response.release()
        record.usage = decoder.usage or _estimate_usage(prepared, streamed_chars)
        record.finish_reason = decoder.finish_reason or ""
        record.settle()
    if failure is not None:
        observe(prepared.route, ok=False, error_kind=failure_kind)
    elif not disconnected.is_set():
        observe_success(prepared)
    if failure is not None:
        # Bytes were already sent: no silent switch to another model, the stream ends with an error event.
        record.fail(failure.status, failure.error_type)
        await stream_bytes(send, renderer.error(failure), more=False)
        return
    await stream_bytes(send, renderer.finish(record.usage, decoder.finish_reason), more=False)


async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
            return


async def handle(scope: dict, receive: Receive, send: Send, *, wire: str) -> None:
    endpoint = "messages" if wire == ANTHROPIC else "chat.completions"
    record = CallRecord(generation_id=new_generation_id(), endpoint=endpoint)
    watcher: asyncio.Task | None = None
    hold = None
    try:
        prepared = await prepare(scope, receive, record, wire)
        hold = await admission.admit(record, prepared.body, prepared.candidates)
        if prepared.stream:
            disconnected = asyncio.Event()
            watcher = asyncio.create_task(_watch_disconnect(receive, disconnected))
            await stream(prepared, send, wire, disconnected)
        else:
            await complete(prepared, send, wire)
    except UpstreamError as exc:
        error = upstream_failure(exc)
        record.fail(error.status, error.error_type)
        await _send_error(send, error, wire, record)
    except GatewayError as error:
        record.fail(error.status, error.error_type)
        await _send_error(send, error, wire, record)
    except ClientDisconnected:
        record.fail(499, "client_disconnected", cancelled=True)
    except asyncio.CancelledError:
        record.fail(499, "client_disconnected", cancelled=True)
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if hold is not None:  # after the response: the client does not wait for it
            await admission.settle(record, hold)
        record.write()


async def handle_route(scope: dict, receive: Receive, send: Send) -> None:
    """POST /v1/route: the decision a chat completion with this body would get, without calling any model. Nothing
    is recorded or charged."""
    record = CallRecord(generation_id=new_generation_id(), endpoint="route")
    try:
        body = await read_request(scope, receive, record, OPENAI)
        plan = await planning.decide(
            scope, record.caller, body, resolve=resolve_model, open_circuits=await health_tracker().open_circuits()
        )
    except GatewayError as error:
        await _send_error(send, error, OPENAI)
        return
    explanation = {"object": "route", **plan.decision.as_dict()}
    if not plan.decision.chain:
        explanation["error"] = planning.no_route_error(plan).openai_body()["error"]
    await send_json(send, 200, explanation, encode_headers({}))


async def _send_error(send: Send, error: GatewayError, wire: str, record: CallRecord | None = None) -> None:
    body = error.anthropic_body() if wire == ANTHROPIC else error.openai_body()
    headers = {**admission.rate_limit_headers(record.rate_states), **error.headers} if record else error.headers
    with contextlib.suppress(OSError):
        await send_json(send, error.status, body, encode_headers(headers))
