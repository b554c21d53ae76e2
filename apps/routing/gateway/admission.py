"""Step 4 of the request path: hold the call's maximum cost against its budgets, quota and credits, and count it
against its rate limits, before any upstream call; settle to the actual cost afterwards (apps/billing/admission)."""

import logging
import math

from django.conf import settings

from apps.billing.admission import (
    CREDITS,
    QUOTA,
    REQUESTS,
    Admission,
    AdmissionUnavailable,
    Counter,
    Hold,
    RateState,
    admission_backend,
    from_units,
    to_units,
)
from apps.billing.pricing import usage_cost
from apps.billing.terms import call_counters, call_rate_limits, counter_seed
from apps.routing.privacy import text_of_messages

from . import context
from .context import ModelRoute
from .errors import GatewayError
from .recording import CallRecord

logger = logging.getLogger(__name__)

TOKENS_PER_MESSAGE = 4  # the role and separators every message costs


def estimate_prompt_tokens(body: dict) -> int:
    """An upper estimate of the prompt's tokens without a tokenizer: a token per 3 bytes of UTF-8 (English runs at
    about 4 characters a token; other scripts at about one a character, 3 bytes in UTF-8)."""
    messages = body.get("messages") or []
    text = text_of_messages(messages)
    return math.ceil(len(text.encode()) / 3) + TOKENS_PER_MESSAGE * len(messages)


def held_output_tokens(body: dict, route: ModelRoute) -> int:
    """What the call may generate, for holding: max_tokens (or the model's maximum), capped by
    BILLING_MAX_HELD_OUTPUT_TOKENS so a huge max_tokens does not block calls that are really within budget."""
    asked = body.get("max_completion_tokens") or body.get("max_tokens") or route.max_output_tokens
    cap = settings.BILLING_MAX_HELD_OUTPUT_TOKENS
    return min(asked, cap) if asked else cap


def _usd(units: int) -> str:
    return f"${from_units(max(units, 0)).normalize():f}"


def refusal(admission: Admission, terms, *, cost_units: int, tokens: int) -> GatewayError:
    if (limit := admission.refused_rate) is not None:
        unit = "requests" if limit.kind == REQUESTS else "tokens"
        wait = max(1, math.ceil(admission.retry_after or 1))
        return GatewayError(
            429,
            f"Rate limit reached: the {limit.label}'s limit is {limit.limit:,} {unit} per minute. Retry in {wait}s.",
            code="rate_limit_exceeded",
            headers={"retry-after": str(wait)},
        )
    counter: Counter = admission.refused_counter
    if counter.kind == QUOTA:
        upgrade = (
            f"Upgrade to {hint} in the marketplace," if (hint := terms.upgrade) else "Upgrade the workspace's plan,"
        )
        return GatewayError(
            429,
            f"This request could use up to {tokens:,} tokens, and {counter.label} has "
            f"{max(admission.available, 0):,} left this month. {upgrade} or add your own provider key (BYOK): calls "
            "paid with it do not count against the quota.",
            code="quota_exceeded",
        )
    if counter.kind == CREDITS:
        return GatewayError(
            402,
            f"This request could cost up to {_usd(cost_units)}, and {counter.label} is {_usd(admission.available)}. "
            "Top up the workspace's credits to go on.",
            code="insufficient_credits",
        )
    return GatewayError(
        429,
        f"This request could cost up to {_usd(cost_units)}, and {counter.label} has {_usd(admission.available)} "
        "left in this window after the calls in flight.",
        code="budget_exceeded",
    )


async def admit(record: CallRecord, body: dict, candidates: list[ModelRoute]) -> Hold | None:
    """Hold what the call may cost against every counter and rate limit that applies, all or nothing. Raises the
    refusal (429 rate_limit_exceeded / budget_exceeded / quota_exceeded, 402 insufficient_credits)."""
    caller = record.caller
    terms = caller.billing
    credentials = [context.credential_for(caller, route, agent_id=record.agent_id) for route in candidates]
    platform_paid = any(found is not None and not found.is_byok for found in credentials)
    counters = call_counters(terms, agent_id=record.agent_id, api_key_id=caller.api_key_id, platform_paid=platform_paid)
    limits = call_rate_limits(terms, api_key_id=caller.api_key_id)
    if not counters and not limits:
        return None
    prompt = estimate_prompt_tokens(body)
    outputs = [(route, held_output_tokens(body, route)) for route in candidates]
    tokens = prompt + max(output for _, output in outputs)
    cost_units = max(
        to_units(usage_cost(prices=route.prices, prompt_tokens=prompt, completion_tokens=output))
        for route, output in outputs
    )
    amounts = [(counter, tokens if counter.kind == QUOTA else cost_units) for counter in counters]
    rates = [(limit, 1 if limit.kind == REQUESTS else tokens) for limit in limits]
    try:
        admission = await admission_backend().reserve(
            caller.workspace_id, amounts, rates, hold_seconds=settings.BILLING_HOLD_SECONDS, seeder=counter_seed
        )
    except AdmissionUnavailable as exc:
        if counters:  # money limits are never skipped: better refuse than overspend
            logger.error("admission store unavailable: %s", exc)
            raise GatewayError(
                503,
                "Switchyard cannot check this workspace's budgets right now; retry shortly.",
                code="billing_unavailable",
                headers={"retry-after": "1"},
            ) from None
        logger.warning("rate limits skipped, admission store unavailable: %s", exc)
        return None
    record.rate_states = admission.rates
    if not admission.allowed:
        raise refusal(admission, terms, cost_units=cost_units, tokens=tokens)
    return admission.hold


async def settle(record: CallRecord, hold: Hold) -> None:
    """Replace the hold by the call's actual cost; quota and credits count only what the platform paid for. What
    went past a quota with overage is kept on the record (its OverageRecord is written with the usage)."""
    usage = record.usage
    tokens = usage.prompt_tokens + usage.completion_tokens if usage else 0
    cost = to_units(record.cost)
    actual = {}
    for counter, _ in hold.amounts:
        if counter.kind == QUOTA:
            actual[counter.key] = 0 if record.is_byok else tokens
        elif counter.kind == CREDITS:
            actual[counter.key] = 0 if record.is_byok else cost
        else:
            actual[counter.key] = cost
    try:
        over = await admission_backend().settle(hold, actual, tokens=tokens)
    except AdmissionUnavailable as exc:
        logger.error("settling %s failed (its hold expires by itself): %s", record.generation_id, exc)
        return
    record.overage_tokens = sum(v for key, v in over.items() if key.startswith("quota:"))


def rate_limit_headers(states: list[RateState]) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers: for requests and for tokens, the tightest of the key's and the workspace's."""
    headers = {}
    for kind, suffix in ((REQUESTS, "requests"), ("tokens", "tokens")):
        matching = [s for s in states if s.limit.kind == kind]
        if not matching:
            continue
        tightest = min(matching, key=lambda s: s.remaining)
        headers[f"x-ratelimit-limit-{suffix}"] = str(tightest.limit.limit)
        headers[f"x-ratelimit-remaining-{suffix}"] = str(tightest.remaining)
        headers[f"x-ratelimit-reset-{suffix}"] = f"{max(tightest.reset_seconds, 0):.3f}".rstrip("0").rstrip(".") + "s"
    return headers
