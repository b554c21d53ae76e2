"""POST /v1/consensus: one question to 2–5 models at once; every answer, how far they agree and where they differ.

The body is a chat completions body with `models` (2 to 5 distinct model ids or aliases) in place of `model`. It is
opt-in (only this endpoint does it) and costed as N calls: each model's call gets its own usage record (endpoint
"consensus", the consensus id and the models in `routing`). Before any call, each call's maximum cost is held
against the caller's budgets, quota and credits and counted against its rate limits, as for a chat completion.
There is no fallback per model: a model that fails is reported in its answer, and the response is an error only
when every model failed.
"""

import asyncio
import contextlib
import dataclasses
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import orjson
from django.conf import settings
from django.utils import timezone

from apps.routing import consensus_scoring, router
from apps.routing.adapters import Completion, UpstreamError
from apps.routing.privacy import detect_personal_data, text_of_messages

from . import admission, chat, context, planning
from .context import CallerContext, ModelRoute
from .errors import GatewayError, bad_request
from .http import ClientDisconnected, Receive, Send, encode_headers, read_body, send_json
from .recording import CallRecord
from .validation import validate_chat_request

ENDPOINT = "consensus"
MIN_MODELS, MAX_MODELS = 2, 5
UNSUPPORTED_FIELDS = ("tools", "tool_choice", "functions", "function_call")


@dataclass
class Consensus:
    """A validated consensus request: who asks, as which agent, and the models it goes to."""

    caller: CallerContext
    agent_id: int | None
    body: dict  # the chat request every model gets
    names: list[str]  # the models as asked for
    routes: list[ModelRoute]


def _max_tokens(body: dict) -> int | None:
    return body.get("max_completion_tokens") or body.get("max_tokens")


def _check_models(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name.strip() for name in value):
        raise bad_request(
            f"'models' must be a list of {MIN_MODELS} to {MAX_MODELS} model ids or aliases.", param="models"
        )
    names = [name.strip() for name in value]
    if not MIN_MODELS <= len(names) <= MAX_MODELS:
        raise bad_request(
            f"'models' must name {MIN_MODELS} to {MAX_MODELS} models; it names {len(names)}.", param="models"
        )
    if len(set(names)) < len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise bad_request(f"'models' names '{repeated}' more than once.", param="models")
    return names


def _check_body(parsed) -> tuple[dict, list[str]]:
    """The chat body every model gets (OpenAI's checks apply to it) and the model names asked for."""
    if not isinstance(parsed, dict):
        raise bad_request("The request body must be a JSON object.")
    if "models" not in parsed:
        raise bad_request(
            f"A consensus needs 'models': a list of {MIN_MODELS} to {MAX_MODELS} model ids or aliases.",
            param="models",
        )
    names = _check_models(parsed["models"])
    # `model`, if sent besides `models`, is ignored: `models` says which models answer.
    body = {key: value for key, value in parsed.items() if key not in ("models", "model")}
    validate_chat_request({**body, "model": names[0]})
    if body.get("stream"):
        raise bad_request("A consensus is not streamed: leave 'stream' out or set it to false.", param="stream")
    for field in UNSUPPORTED_FIELDS:
        if body.get(field) is not None:
            raise bad_request(f"A consensus compares text answers; '{field}' is not supported.", param=field)
    body.pop("stream", None)
    body.pop("stream_options", None)
    if not _max_tokens(body):
        # A cap keeps the budget check's estimate a true maximum.
        body["max_tokens"] = settings.CONSENSUS_DEFAULT_MAX_TOKENS
    return body, names


async def _resolve(caller: CallerContext, agent_id: int | None, names: list[str]) -> list[ModelRoute]:
    """The catalog routes of the models, with chat's checks (catalog, enabled, plan, installed) and a key for each."""
    routes: list[ModelRoute] = []
    for position, name in enumerate(names):
        param = f"models[{position}]"
        try:
            route = await chat.resolve_model(caller, name)
        except GatewayError as error:
            raise dataclasses.replace(error, param=param) from None
        if any(known.model_id == route.model_id for known in routes):
            raise bad_request(f"'models' names '{route.model_id}' more than once.", param="models")
        if context.credential_for(caller, route, agent_id=agent_id) is None:
            raise GatewayError(
                403,
                f"No API key for provider {route.provider_name}: add a BYOK key for it, "
                "or ask staff to set its platform key.",
                code="provider_key_missing",
                param=param,
            )
        routes.append(route)
    return routes


def _check_privacy(scope: dict, consensus: Consensus, agent) -> None:
    """The agent's privacy rule holds here as on chat: restricted requests go to local or trusted providers only."""
    mode = planning.privacy_mode_for(scope, agent, auto=False)
    findings = detect_personal_data(text_of_messages(consensus.body["messages"])) if mode == "detect" else ()
    if not router.privacy_restricted(mode, findings):
        return
    barred = [r.model_id for r in consensus.routes if r.privacy_class not in router.TRUSTED_PRIVACY_CLASSES]
    if barred:
        kinds = sorted({f.kind for f in findings})
        why = f"it contains {', '.join(kinds)}" if kinds else "this agent always requires it"
        raise GatewayError(
            403,
            f"This request may only go to local or trusted providers ({why}); not: {', '.join(barred)}.",
            code="privacy_restricted",
            param="models",
        )


async def read_consensus(scope: dict, receive: Receive) -> Consensus:
    raw = await read_body(receive, limit=settings.GATEWAY_MAX_BODY_BYTES)
    caller = await chat.authenticate(scope, chat.OPENAI)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON.", code="invalid_json") from None
    body, names = _check_body(parsed)
    agent = planning.agent_for(scope, caller)
    agent_id = agent.pk if agent else None
    consensus = Consensus(caller, agent_id, body, names, await _resolve(caller, agent_id, names))
    _check_privacy(scope, consensus, agent)
    return consensus


async def hold_all(calls: list[chat.Prepared]) -> None:
    """Hold every call's maximum cost against the budgets, quota, credits and rate limits before any call goes out
    (each call counts as one request); one refused releases the others' holds and refuses the whole consensus."""
    try:
        for call in calls:
            call.hold = await admission.admit(call.record, call.body, call.candidates)
    except GatewayError:
        for call in calls:
            if call.hold is not None:
                await admission.settle(call.record, call.hold)
        raise


async def _complete(prepared: chat.Prepared) -> Completion:
    """One non-streamed call, read and parsed; failures raise UpstreamError or GatewayError."""
    response = await chat.open_with_fallback(prepared)  # one candidate: no fallback
    try:
        payload = await response.read()
    except TimeoutError:
        raise UpstreamError(504, "timeout", "The provider did not finish in time.", None, True) from None
    except aiohttp.ClientError as exc:
        raise UpstreamError(502, "server_error", f"Broken answer: {exc.__class__.__name__}.", None, True) from None
    finally:
        response.release()
    prepared.record.mark_first_byte()
    return prepared.adapter.parse_response(payload=payload, model=prepared.route.model_id)


def _content_of(completion: Completion) -> str:
    """The answer's text; content given as parts (some OpenAI-compatible servers do) is joined."""
    choices = completion.body.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _usage_body(record: CallRecord) -> dict:
    usage = record.usage
    prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def ask(prepared: chat.Prepared) -> dict:
    """One model's answer entry; its usage record is written whatever happens."""
    record, route = prepared.record, prepared.candidates[0]
    began = record.elapsed_ms()
    error: GatewayError | None = None
    content = finish_reason = None
    try:
        completion = await _complete(prepared)
        record.usage, record.finish_reason = completion.usage, completion.finish_reason
        record.settle()
        content = _content_of(completion)
        finish_reason = completion.finish_reason
    except UpstreamError as exc:
        error = chat.upstream_failure(exc)
    except GatewayError as exc:
        error = exc
    except asyncio.CancelledError:
        record.fail(499, "client_disconnected", cancelled=True)
        raise
    finally:
        if error is not None:
            record.fail(error.status, error.error_type)
        if prepared.hold is not None:
            await admission.settle(record, prepared.hold)
        record.write()
    if error is None:
        cost = None if record.cost is None else float(record.cost)
        failure = None
    else:
        cost = 0.0  # nothing was used, so nothing is charged
        failure = {**error.openai_body()["error"], "status": error.status}
        failure.pop("param", None)
    return {
        "model": route.model_id,
        "provider": route.provider_slug,
        "generation_id": record.generation_id,
        "content": content,
        "finish_reason": finish_reason,
        "usage": _usage_body(record),
        "cost": cost,
        "latency_ms": record.elapsed_ms() - began,
        "error": failure,
    }


def _calls(consensus: Consensus, consensus_id: str, started: float, created_at) -> list[chat.Prepared]:
    routing = {"consensus_id": consensus_id, "models": [route.model_id for route in consensus.routes]}
    calls = []
    for name, route in zip(consensus.names, consensus.routes, strict=True):
        record = CallRecord(
            generation_id=chat.new_generation_id(),
            endpoint=ENDPOINT,
            started=started,  # the request's deadline counts from its start, for every call
            created_at=created_at,
            caller=consensus.caller,
            agent_id=consensus.agent_id,
            requested_model=name,
            route=route,
            routing=routing,
        )
        calls.append(chat.Prepared(record, consensus.body, [route], stream=False, agent_id=consensus.agent_id))
    return calls


def _total_cost(records: list[CallRecord]) -> Decimal | None:
    """What the calls cost; None when a model that answered has no known price."""
    answered = [r for r in records if r.status == "success"]
    if any(r.cost is None for r in answered):
        return None
    return sum((r.cost for r in answered), Decimal("0"))


def response_body(consensus_id: str, answers: list[dict], cost: Decimal | None) -> dict:
    texts = {a["model"]: a["content"] for a in answers if a["error"] is None}
    usage = {key: sum(a["usage"][key] for a in answers) for key in ("prompt_tokens", "completion_tokens")}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {
        "id": consensus_id,
        "object": "consensus",
        "created": int(time.time()),
        "answers": answers,
        "agreement": consensus_scoring.agreement(texts),
        "disagreements": consensus_scoring.disagreements(texts),
        "usage": usage,
        "cost": None if cost is None else float(cost),
    }


def _all_failed(answers: list[dict]) -> GatewayError:
    reasons = "; ".join(f"{a['model']}: {a['error']['message']}" for a in answers)
    return GatewayError(502, f"Every model failed ({reasons}).", code="all_models_failed")


async def _send_error(send: Send, error: GatewayError) -> None:
    with contextlib.suppress(OSError):
        await send_json(send, error.status, error.openai_body(), encode_headers(error.headers))


async def handle(scope: dict, receive: Receive, send: Send) -> None:
    started, created_at = time.perf_counter(), timezone.now()
    consensus_id = "cons-" + secrets.token_hex(12)
    calls: list[chat.Prepared] = []
    try:
        consensus = await read_consensus(scope, receive)
        calls = _calls(consensus, consensus_id, started, created_at)
        await hold_all(calls)
    except GatewayError as error:
        # Refused before any call: nothing was sent upstream and nothing is recorded.
        rates = calls[0].record.rate_states if calls else []
        error.headers = {**admission.rate_limit_headers(rates), **error.headers}
        await _send_error(send, error)
        return
    except ClientDisconnected:
        return
    answers = list(await asyncio.gather(*(ask(call) for call in calls)))
    if all(answer["error"] is not None for answer in answers):
        await _send_error(send, _all_failed(answers))
        return
    cost = _total_cost([call.record for call in calls])
    headers = {"x-switchyard-consensus-id": consensus_id, "x-switchyard-cost": "unknown" if cost is None else str(cost)}
    await send_json(send, 200, response_body(consensus_id, answers, cost), encode_headers(headers))
