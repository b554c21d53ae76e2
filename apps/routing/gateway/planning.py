"""From a validated request to the router's decision: which agent applies, which policy, which candidates.

Shared by POST /v1/chat/completions, /v1/messages and /v1/route, so the explanation `/v1/route` gives is the
decision the gateway takes.

The `model` field may name
- a model: a canonical id, an alias, or a bare upstream name that matches one installed model;
- `auto` or `auto:eco|balanced|precision`: the router picks among the workspace's installed models;
- `agent`: the agent's own configuration (its primary model and fallbacks, or `auto` when its policy is auto).
The agent is the API key's, or the one named by an `X-Switchyard-Agent` header (slug or id). An explicitly named
model still gets the agent's fallbacks and privacy mode.

Privacy mode: the agent's; without an agent, an `X-Switchyard-Privacy: detect|always|off` header, else `detect` for
`auto` and `off` for a named model (whoever names a model chose its provider).
"""

import math
from dataclasses import dataclass

from apps.routing import router
from apps.routing.privacy import detect_personal_data, text_of_messages
from apps.routing.prompt_analysis import analyse_prompt

from . import context
from .context import AgentPolicy, CallerContext, ModelRoute
from .errors import GatewayError, bad_request
from .http import header

AGENT_MODEL = "agent"


@dataclass
class Plan:
    decision: router.Decision
    routes: dict[str, ModelRoute]  # every model the decision mentions, by id
    agent: AgentPolicy | None
    requested: ModelRoute | None = None  # the model named, for explicit requests
    open_circuits: dict[str, float] | None = None  # model -> seconds until its circuit lets a probe through

    @property
    def chain(self) -> list[ModelRoute]:
        return [self.routes[model_id] for model_id in self.decision.chain]


def agent_for(scope: dict, caller: CallerContext) -> AgentPolicy | None:
    name = header(scope, b"x-switchyard-agent")
    if name is None or not name.strip():
        return caller.agent
    agent = caller.agents.get(name.strip())
    if agent is None:
        raise GatewayError(
            404,
            f"No active agent '{name.strip()}' in this workspace (X-Switchyard-Agent takes an agent's slug or id).",
            code="agent_not_found",
            param="X-Switchyard-Agent",
        )
    return agent


def auto_level(name: str) -> str | None:
    """'' for plain `auto` (the policy's level), the level for `auto:<level>`, None when the name is not auto."""
    lowered = name.strip().lower()
    if lowered == "auto":
        return ""
    if lowered.startswith("auto:"):
        try:
            return router.power_level_of(lowered[5:])
        except router.InvalidPolicy as exc:
            raise bad_request(str(exc), param="model") from None
    return None


def privacy_mode_for(scope: dict, agent: AgentPolicy | None, *, auto: bool) -> str:
    if agent is not None and agent.privacy_mode in router.PRIVACY_MODES:
        return agent.privacy_mode
    asked = header(scope, b"x-switchyard-privacy")
    if asked:
        mode = asked.strip().lower()
        if mode not in router.PRIVACY_MODES:
            raise bad_request(
                f"X-Switchyard-Privacy must be one of {', '.join(router.PRIVACY_MODES)}.", param="X-Switchyard-Privacy"
            )
        return mode
    return "detect" if auto else "off"


def _weights(stored: dict) -> dict[str, float]:
    # Stored weights are validated when they are saved; a bad leftover must not break requests.
    try:
        return router.normalise_weights(stored)
    except router.InvalidPolicy:
        return dict(router.DEFAULT_WEIGHTS)


def _level(stored: str) -> str:
    try:
        return router.power_level_of(stored)
    except router.InvalidPolicy:
        return "BALANCED"


async def decide(
    scope: dict,
    caller: CallerContext,
    body: dict,
    *,
    resolve,
    open_circuits: dict[str, float] | None = None,
) -> Plan:
    """`resolve(caller, name)` is the gateway's model resolution (raises the 404/403 errors for a named model)."""
    open_circuits = open_circuits or {}
    agent = agent_for(scope, caller)
    name = body["model"]
    level = auto_level(name)
    if name.strip().lower() == AGENT_MODEL:
        if agent is None:
            raise bad_request(
                "model 'agent' needs an agent: use an API key bound to one, or send X-Switchyard-Agent.", param="model"
            )
        if agent.routing_policy == "auto":
            level = ""
        elif agent.primary_model:
            name = agent.primary_model
        else:
            raise bad_request(f"The agent '{agent.slug}' has no primary model.", param="model")
    auto = level is not None
    privacy_mode = privacy_mode_for(scope, agent, auto=auto)
    messages = body["messages"]
    text = text_of_messages(messages)
    findings = tuple(detect_personal_data(text)) if privacy_mode == "detect" else ()
    policy = router.Policy(
        power_level=level or _level(agent.power_level if agent else caller.power_level),
        weights=_weights(agent.weights if agent else caller.routing_weights),
        task_rules=agent.task_rules if agent else {},
        privacy_mode=privacy_mode,
        fallbacks=agent.fallbacks if agent else (),
        # Billing's downgrade budgets steer `auto` only: a named model is what the caller asked for.
        budget=await context.budget_signal(caller, agent.pk if agent else None) if auto else None,
        level_pinned=bool(level),
    )
    agent_slug = agent.slug if agent else None
    if auto:
        analysis = analyse_prompt(messages)
        needs = router.Needs.of(body, prompt_tokens=analysis.prompt_tokens)
        routes, excluded = await _installed_routes(caller)
        decision = router.decide_auto(
            list(routes.values()),
            needs,
            policy,
            requested=name,
            analysis=analysis,
            findings=findings,
            excluded=excluded,
            open_circuits=open_circuits,
            keyless=_keyless(caller, routes.values(), agent),
            latency_ms={m: r.latency_p50_ms for m, r in routes.items() if r.latency_p50_ms},
            agent=agent_slug,
        )
        return Plan(decision, routes, agent, open_circuits=open_circuits)
    needs = router.Needs.of(body, prompt_tokens=math.ceil(len(text) / 4))
    requested = await resolve(caller, name)
    routes = {requested.model_id: requested}
    fallbacks, excluded = [], []
    for model_id in policy.fallbacks:
        if model_id in routes:
            continue
        try:
            route = await resolve(caller, model_id)
        except GatewayError as error:
            excluded.append(router.Exclusion(model_id, error.code or "unavailable", error.message))
            continue
        routes[model_id] = route
        fallbacks.append(route)
    decision = router.decide_explicit(
        requested,
        fallbacks,
        needs,
        policy,
        requested=name,
        findings=findings,
        excluded=excluded,
        open_circuits=open_circuits,
        keyless=_keyless(caller, routes.values(), agent),
        agent=agent_slug,
    )
    return Plan(decision, routes, agent, requested, open_circuits)


async def _installed_routes(caller: CallerContext) -> tuple[dict[str, ModelRoute], list[router.Exclusion]]:
    routes, excluded = {}, []
    for model_id in sorted(caller.installed):
        route = await context.models.get(model_id)
        if route is None:
            continue
        if not caller.plan_allows_all and model_id not in caller.plan_allowed:
            excluded.append(
                router.Exclusion(model_id, "not_in_plan", f"The {caller.plan_name} plan does not include it.")
            )
            continue
        routes[model_id] = route
    return routes, excluded


def _keyless(caller: CallerContext, routes, agent: AgentPolicy | None) -> set[str]:
    agent_id = agent.pk if agent else None
    return {r.model_id for r in routes if context.credential_for(caller, r, agent_id=agent_id) is None}


def no_route_error(plan: Plan) -> GatewayError:
    """Why no model can serve the request, as the client sees it."""
    decision = plan.decision
    codes = {e.code for e in decision.excluded}
    considered = [e for e in decision.excluded if e.model in plan.routes]
    if considered and all(e.code == "provider_key_missing" for e in considered):
        named = f"provider {plan.requested.provider_name}" if plan.requested else "the providers of these models"
        return GatewayError(
            403,
            f"No API key for {named}: add a BYOK key for it, or ask staff to set its platform key.",
            code="provider_key_missing",
        )
    if decision.privacy_restricted and "privacy" in codes:
        kinds = sorted({f.kind for f in decision.privacy_findings})
        why = f"it contains {', '.join(kinds)}" if kinds else "this agent always requires it"
        return GatewayError(
            403,
            f"This request may only go to local or trusted providers ({why}), and none of its models is one.",
            code="privacy_restricted",
        )
    if codes == {"circuit_open"}:
        wait = min((plan.open_circuits or {}).get(e.model, 1.0) for e in decision.excluded)
        return GatewayError(
            503,
            "Every model that could serve this request is failing right now (circuit open); retry shortly.",
            code="model_unavailable",
            headers={"retry-after": str(max(1, round(wait)))},
        )
    reasons = "; ".join(f"{e.model}: {e.reason}" for e in decision.excluded[:5]) or "no model is installed"
    return GatewayError(
        400, f"No model in this workspace can serve this request ({reasons}).", code="no_eligible_model"
    )
