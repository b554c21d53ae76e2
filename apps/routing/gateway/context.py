"""What the gateway knows about a caller and a model, loaded on the cold path and cached per process."""

import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.billing.models import BudgetAction
from apps.billing.pricing import Prices
from apps.billing.selectors import budget_standings
from apps.billing.terms import BillingTerms, billing_terms_for
from apps.catalog.selectors import model_route_get
from apps.catalog.task_scores import task_quality_map
from apps.core.secrets import secret_hash
from apps.keys.selectors import api_key_get_by_hash, provider_key_secret_map
from apps.routing.router import BudgetSignal
from apps.routing.selectors import model_latency_p50
from apps.workspaces.selectors import (
    active_agent_list,
    installed_model_ids,
    plan_allowed_model_ids,
)

from .cache import TTLCache


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """An agent's model configuration, as the gateway and the router use it."""

    pk: int
    slug: str
    primary_model: str | None
    fallbacks: tuple[str, ...]
    routing_policy: str  # explicit | auto
    power_level: str
    weights: dict
    task_rules: dict
    privacy_mode: str
    max_tokens: int | None
    temperature: float | None


def _agent_policy(agent) -> AgentPolicy:
    return AgentPolicy(
        pk=agent.pk,
        slug=agent.slug,
        primary_model=agent.primary_model.model_id if agent.primary_model_id else None,
        fallbacks=tuple(fallback.model.model_id for fallback in agent.fallbacks.all()),
        routing_policy=agent.routing_policy,
        power_level=agent.power_level,
        weights=dict(agent.routing_weights or {}),
        task_rules=dict(agent.task_rules or {}),
        privacy_mode=agent.privacy_mode,
        max_tokens=agent.max_tokens,
        temperature=float(agent.temperature) if agent.temperature is not None else None,
    )


@dataclass(frozen=True, slots=True)
class CallerContext:
    """One API key and everything about its workspace the hot path needs. Holds decrypted BYOK secrets, so it
    lives in process memory only (never in Redis)."""

    api_key_id: int
    expires_at: datetime | None
    workspace_id: int
    member_id: int | None
    agent_id: int | None
    plan_slug: str
    plan_name: str
    plan_allows_all: bool
    plan_allowed: frozenset[str]  # model ids allowed besides "all" (default, tier and explicit rules resolved)
    byok_allowed: bool
    installed: frozenset[str]
    agent_fallbacks: tuple[str, ...]  # the key's agent's fallback chain, in order
    # (provider id, agent id or None, member id or None) -> secret
    byok_keys: dict[tuple[int, int | None, int | None], str] = field(repr=False, default_factory=dict)
    # upstream name ("gpt-4o-mini") -> installed canonical ids, so a bare name resolves without a scan
    installed_by_short_name: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The workspace's routing defaults, and its active agents by slug and by id (as text) for X-Switchyard-Agent:
    power_level: str = "BALANCED"
    routing_weights: dict = field(default_factory=dict)
    agents: dict[str, AgentPolicy] = field(default_factory=dict)
    billing: BillingTerms | None = None  # quota, budgets, billing mode and rate limits (apps/billing/terms.py)

    @property
    def agent(self) -> AgentPolicy | None:
        """The API key's own agent."""
        return self.agents.get(str(self.agent_id)) if self.agent_id is not None else None


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A catalog model and how to reach it."""

    pk: int
    model_id: str
    upstream_name: str
    enabled: bool
    deprecated: bool
    provider_pk: int
    provider_slug: str
    provider_name: str
    provider_enabled: bool
    adapter_kind: str
    base_url: str
    extra_headers: dict
    adapter_options: dict
    platform_key: str = field(repr=False)
    env_key_name: str
    prices: Prices
    price_unknown: bool
    max_output_tokens: int | None
    context_window: int | None
    supports_tools: bool
    supports_vision: bool
    supports_json: bool
    # What the router weighs (apps/routing/router.py):
    power_level: str = "BALANCED"
    privacy_class: str = "standard"
    provider_priority: int = 100
    quality: float = 0.5
    task_quality: dict = field(default_factory=dict)  # task -> score, from the per-task quality table
    latency_p50_ms: int | None = None  # from the last health rollup

    @property
    def input_price_per_token(self) -> float:
        return float(self.prices.input or 0)

    @property
    def output_price_per_token(self) -> float:
        return float(self.prices.output or 0)


def load_caller(key_hash: str) -> CallerContext | None:
    api_key = api_key_get_by_hash(key_hash=key_hash)
    if api_key is None or not api_key.workspace.is_active:
        return None
    workspace = api_key.workspace
    plan = workspace.plan
    allows_all, allowed = plan_allowed_model_ids(plan=plan)
    installed = installed_model_ids(workspace=workspace)
    by_short_name: dict[str, tuple[str, ...]] = {}
    for model_id in installed:
        short = model_id.rsplit("/", 1)[-1]
        by_short_name[short] = (*by_short_name.get(short, ()), model_id)
    agents = {}
    for agent in active_agent_list(workspace=workspace):
        policy = _agent_policy(agent)
        agents[agent.slug] = agents[str(agent.pk)] = policy
    key_agent = agents.get(str(api_key.agent_id)) if api_key.agent_id else None
    return CallerContext(
        api_key_id=api_key.pk,
        expires_at=api_key.expires_at,
        workspace_id=workspace.pk,
        member_id=api_key.created_by_id,
        agent_id=api_key.agent_id,
        plan_slug=plan.slug,
        plan_name=plan.name,
        plan_allows_all=allows_all,
        plan_allowed=frozenset(allowed),
        byok_allowed=plan.byok_allowed,
        installed=frozenset(installed),
        agent_fallbacks=key_agent.fallbacks if key_agent else (),
        byok_keys=provider_key_secret_map(workspace=workspace),
        installed_by_short_name=by_short_name,
        power_level=workspace.preferred_power_level,
        routing_weights=dict(workspace.routing_weights or {}),
        agents=agents,
        billing=billing_terms_for(api_key=api_key),
    )


def load_model(name: str) -> ModelRoute | None:
    model = model_route_get(name=name)
    if model is None:
        return None
    provider = model.provider
    return ModelRoute(
        pk=model.pk,
        model_id=model.model_id,
        upstream_name=model.upstream_name,
        enabled=model.enabled,
        deprecated=model.deprecated_at is not None,
        provider_pk=provider.pk,
        provider_slug=provider.slug,
        provider_name=provider.name,
        provider_enabled=provider.enabled,
        adapter_kind=provider.adapter_kind,
        base_url=provider.base_url.rstrip("/"),
        extra_headers=dict(provider.extra_headers or {}),
        adapter_options={**(provider.adapter_options or {}), "max_output_tokens": model.max_output_tokens},
        platform_key=provider.platform_key or "",
        env_key_name=provider.env_key_name,
        prices=Prices(model.input_price, model.output_price, model.cache_read_price, model.cache_write_price),
        price_unknown=model.price_unknown or model.input_price is None or model.output_price is None,
        max_output_tokens=model.max_output_tokens,
        context_window=model.context_window,
        supports_tools=model.supports_tools,
        supports_vision=model.supports_vision,
        supports_json=model.supports_json,
        power_level=model.power_level,
        privacy_class=provider.privacy_class,
        provider_priority=provider.priority,
        quality=float(model.quality_score),
        task_quality=task_quality_map(model_ids=[model.model_id]).get(model.model_id, {}),
        latency_p50_ms=model_latency_p50(model=model),
    )


def load_budget_signal(key: str) -> BudgetSignal | None:
    """The downgrade budget closest to running out for "workspace:agent:api key" (empty agent: none)."""
    workspace_id, agent_id, api_key_id = key.split(":")
    standings = [
        s
        for s in budget_standings(
            workspace_id=int(workspace_id), agent_id=int(agent_id) if agent_id else None, api_key_id=int(api_key_id)
        )
        if s.action == BudgetAction.DOWNGRADE
    ]
    if not standings:
        return None
    tightest = max(standings, key=lambda s: s.used_fraction)
    return BudgetSignal(
        label=f"{tightest.scope} {tightest.period} budget",
        used_fraction=tightest.used_fraction,
        thresholds=tightest.thresholds or (50, 80, 100),
    )


callers: TTLCache[CallerContext | None] = TTLCache(load_caller, ttl=lambda: settings.GATEWAY_KEY_CACHE_SECONDS)
budget_signals: TTLCache[BudgetSignal | None] = TTLCache(
    load_budget_signal, ttl=lambda: settings.ROUTER_BUDGET_CACHE_SECONDS
)
models: TTLCache[ModelRoute | None] = TTLCache(load_model, ttl=lambda: settings.GATEWAY_CATALOG_CACHE_SECONDS)


# Edits to what callers' contexts hold (plans, workspaces, budgets, keys, agents, installed models) bump a shared
# epoch; each process looks at it at most every GATEWAY_CONFIG_CHECK_SECONDS and drops its caller contexts when it
# moved, so such an edit reaches every process within that, not the full cache TTL. The process that made the edit
# drops them at once.
CONFIG_EPOCH_KEY = "sy:gateway:config-epoch"
_epoch_seen: dict = {"value": None, "checked_at": float("-inf")}


def config_changed() -> None:
    callers.clear()
    budget_signals.clear()
    epoch = secrets.token_hex(8)
    cache.set(CONFIG_EPOCH_KEY, epoch, None)
    _epoch_seen["value"] = epoch  # this process is up to date: it must not drop its contexts again


async def follow_config_changes() -> None:
    now = time.monotonic()
    if now - _epoch_seen["checked_at"] < settings.GATEWAY_CONFIG_CHECK_SECONDS:
        return
    _epoch_seen["checked_at"] = now
    epoch = await cache.aget(CONFIG_EPOCH_KEY)
    if epoch != _epoch_seen["value"]:
        callers.clear()
        budget_signals.clear()
        _epoch_seen["value"] = epoch


async def caller_for_secret(secret: str) -> CallerContext | None:
    await follow_config_changes()
    caller = await callers.get(secret_hash(secret))
    if caller is not None and caller.expires_at is not None and caller.expires_at <= timezone.now():
        return None
    return caller


async def budget_signal(caller: CallerContext, agent_id: int | None) -> BudgetSignal | None:
    return await budget_signals.get(f"{caller.workspace_id}:{agent_id or ''}:{caller.api_key_id}")


def clear_caches() -> None:
    callers.clear()
    models.clear()
    budget_signals.clear()


@dataclass(frozen=True, slots=True)
class Credential:
    secret: str
    is_byok: bool
    source: str  # agent, member, workspace, platform, environment, none (a local server)


def credential_for(caller: CallerContext, model: ModelRoute, *, agent_id: int | None) -> Credential | None:
    """Agent-level key → the member's BYOK key → the workspace's → the platform key → an environment variable; a
    local server (Ollama, vLLM) may need none."""
    if caller.byok_allowed:
        provider = model.provider_pk
        levels = [("workspace", (provider, None, None))]
        if caller.member_id is not None:
            levels.insert(0, ("member", (provider, None, caller.member_id)))
        if agent_id is not None:
            levels.insert(0, ("agent", (provider, agent_id, None)))
        for source, lookup in levels:
            if secret := caller.byok_keys.get(lookup):
                return Credential(secret, True, source)
    if model.platform_key:
        return Credential(model.platform_key, False, "platform")
    if model.env_key_name and (secret := os.environ.get(model.env_key_name)):
        return Credential(secret, False, "environment")
    if model.privacy_class == "local":
        return Credential("", False, "none")
    return None
