"""The accounting of one gateway request, written to the usage spool whatever the outcome."""

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils import timezone

from apps.analytics.usage import UsageSpool
from apps.billing.pricing import usage_cost
from apps.routing.adapters import Usage

from .context import CallerContext, ModelRoute


@cache
def usage_spool() -> UsageSpool:
    return UsageSpool(settings.USAGE_SPOOL_DIR)


@dataclass
class CallRecord:
    generation_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=timezone.now)
    caller: CallerContext | None = None
    agent_id: int | None = None  # the agent the request ran as: the key's, or the one named by X-Switchyard-Agent
    requested_model: str = ""
    route: ModelRoute | None = None
    is_byok: bool = False
    streamed: bool = False
    attempts: list[dict] = field(default_factory=list)
    routing: dict = field(default_factory=dict)  # the router's explanation of its choice
    usage: Usage | None = None
    finish_reason: str = ""
    status: str = "success"
    http_status: int = 200
    error_type: str = ""
    ttft_ms: int | None = None
    cost: Decimal | None = None
    price_unknown: bool = False
    rate_states: list = field(default_factory=list)  # the rate limits counted at admission, for the headers
    overage_tokens: int = 0  # tokens past a quota with overage, found when settling

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def mark_first_byte(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()

    def fail(self, status: int, error_type: str, *, cancelled: bool = False) -> None:
        self.status = "cancelled" if cancelled else "error"
        self.http_status = status
        self.error_type = error_type

    def settle(self) -> None:
        """Price the tokens with the catalog price in force; an unknown price is recorded as such, not as $0."""
        if self.route is None or self.usage is None:
            return
        self.cost = usage_cost(
            prices=self.route.prices,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            cached_tokens=self.usage.cached_tokens,
            cache_write_tokens=self.usage.cache_write_tokens,
        )
        self.price_unknown = self.cost is None

    def as_spool_record(self) -> dict:
        usage = self.usage or Usage(0, 0)
        caller, route = self.caller, self.route
        return {
            "generation_id": self.generation_id,
            "workspace_id": caller.workspace_id,
            "agent_id": self.agent_id if self.agent_id is not None else caller.agent_id,
            "api_key_id": caller.api_key_id,
            "member_id": caller.member_id,
            "endpoint": self.endpoint,
            "requested_model": self.requested_model[:255],
            "model_id": route.pk if route else None,
            "model_name": route.model_id if route else "",
            "provider_id": route.provider_pk if route else None,
            "provider_slug": route.provider_slug if route else "",
            "attempts": self.attempts,
            "routing": self.routing,
            "is_byok": self.is_byok,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cost_usd": str(self.cost) if self.cost is not None else None,
            "price_unknown": self.price_unknown,
            "overage_tokens": self.overage_tokens,
            "latency_ms": self.elapsed_ms(),
            "ttft_ms": self.ttft_ms,
            "status": self.status,
            "error_type": self.error_type[:64],
            "http_status": self.http_status,
            "streamed": self.streamed,
            "finish_reason": (self.finish_reason or "")[:32],
            "created_at": self.created_at.isoformat(),
        }

    def write(self) -> None:
        """Only callers we know get a record: an unauthenticated request belongs to no workspace."""
        if self.caller is not None:
            usage_spool().append(self.as_spool_record())
