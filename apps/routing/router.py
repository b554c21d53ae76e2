"""The router: which of a workspace's models may serve a request, in which order, and why.

Pure Python, no I/O: the gateway (and `/v1/route`, and `evaluate_router`) hand it the candidate models with what
they know about them, and get back a Decision that explains itself.

Order of the rules
    1. Exclusions, each with its reason: disabled or deprecated, not in the plan, unknown price (auto only: it
       cannot be costed), missing a capability the request needs (tools, vision, JSON), a context window too small
       for the prompt + max_tokens, a provider that is not local/trusted while privacy routing applies, an open
       circuit, no API key.
    2. The target power level: `auto:<level>` pins it; plain `auto` starts from the agent's or workspace's level and
       moves up one tier for a high-complexity prompt and down one for a low one. Either way it then moves down as a
       downgrade budget runs out:
       past its second threshold one tier down, past its third (100 % by default) two tiers; past its first the
       cost weight doubles.
    3. The weighted score of each remaining model:
           weights.cost × cost_score + weights.latency × latency_score + weights.quality × quality
           − TIER_PENALTY × (tiers between the model's power level and the target)
       cost_score = 1 / (1 + log10(this model's estimated cost / the cheapest's)): 1 for the cheapest, 0.5 for ten
       times its cost, 0.33 for a hundred times; costs are estimated for the prompt's tokens and max_tokens (or
       EXPECTED_OUTPUT_TOKENS). latency_score likewise from the model's p50 latency (health figures, else a typical
       figure for its power level). A tier away from the target costs more than a tenfold price difference at the
       default weights, so the power level leads and the weights order within it (and can cross it when they are
       extreme). quality = Σ over tasks of P(task | prompt) × the
       model's score for that task (the per-task quality table; the model's overall quality where a task has
       none). Quality stays absolute, so the cost/quality weights set how much better a model must be to be
       worth its price.
    4. An agent's task rule ("code → deepseek/deepseek-coder") puts its model first when the task is detected.
The fallback chain is the best CHAIN_LENGTH models followed by the agent's own fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .privacy import Finding
from .prompt_analysis import PromptAnalysis

POWER_LEVELS = ("ECO", "BALANCED", "PRECISION")
DEFAULT_WEIGHTS = {"cost": 0.4, "latency": 0.4, "quality": 0.2}
TIER_PENALTY = 0.5
CHAIN_LENGTH = 3
EXPECTED_OUTPUT_TOKENS = 512
COST_FLOOR_USD = 1e-7  # keeps free (local) models comparable instead of dividing by zero
TYPICAL_LATENCY_MS = {"ECO": 800.0, "BALANCED": 1500.0, "PRECISION": 3000.0}
TRUSTED_PRIVACY_CLASSES = frozenset({"local", "trusted"})
PRIVACY_MODES = ("detect", "always", "off")


class RoutableModel(Protocol):
    model_id: str
    provider_slug: str
    provider_priority: int
    enabled: bool
    provider_enabled: bool
    deprecated: bool
    price_unknown: bool
    power_level: str
    privacy_class: str
    quality: float
    task_quality: Mapping[str, float]
    context_window: int | None
    supports_tools: bool
    supports_vision: bool
    supports_json: bool

    @property
    def input_price_per_token(self) -> float: ...

    @property
    def output_price_per_token(self) -> float: ...


class InvalidPolicy(ValueError):
    pass


def normalise_weights(weights: Mapping | None) -> dict[str, float]:
    """{cost, latency, quality} as non-negative numbers scaled to sum to 1; missing keys count as 0."""
    if not weights:
        return dict(DEFAULT_WEIGHTS)
    if not isinstance(weights, Mapping):
        raise InvalidPolicy("Routing weights must be an object with cost, latency and quality.")
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise InvalidPolicy(f"Unknown routing weight(s): {', '.join(sorted(unknown))}; use cost, latency, quality.")
    values = {}
    for name in DEFAULT_WEIGHTS:
        value = weights.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
            raise InvalidPolicy(f"Routing weight '{name}' must be a non-negative number.")
        values[name] = float(value)
    total = sum(values.values())
    if total <= 0:
        raise InvalidPolicy("At least one routing weight must be above zero.")
    return {name: value / total for name, value in values.items()}


def power_level_of(value: str | None, default: str = "BALANCED") -> str:
    level = (value or default).upper()
    if level not in POWER_LEVELS:
        raise InvalidPolicy(f"Unknown power level '{value}'; use eco, balanced or precision.")
    return level


@dataclass(frozen=True, slots=True)
class Needs:
    """What the request requires of a model."""

    prompt_tokens: int
    max_tokens: int | None = None
    tools: bool = False
    vision: bool = False
    json: bool = False

    @classmethod
    def of(cls, body: Mapping, *, prompt_tokens: int) -> Needs:
        response_format = body.get("response_format") or {}
        return cls(
            prompt_tokens=prompt_tokens,
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            tools=bool(body.get("tools")) and body.get("tool_choice") != "none",
            vision=_has_image(body.get("messages") or ()),
            json=isinstance(response_format, Mapping) and response_format.get("type") in ("json_object", "json_schema"),
        )

    @property
    def output_tokens(self) -> int:
        return self.max_tokens or EXPECTED_OUTPUT_TOKENS


def _has_image(messages: Iterable) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(isinstance(p, Mapping) and p.get("type") == "image_url" for p in content):
            return True
    return False


@dataclass(frozen=True, slots=True)
class BudgetSignal:
    """The downgrade budget closest to running out, as the router needs it."""

    label: str  # e.g. "workspace monthly budget"
    used_fraction: float
    thresholds: tuple[int, ...] = (50, 80, 100)

    @property
    def crossed(self) -> int:
        return sum(1 for threshold in sorted(self.thresholds) if self.used_fraction * 100 >= threshold)


@dataclass(frozen=True, slots=True)
class Policy:
    power_level: str = "BALANCED"
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    task_rules: Mapping[str, str] = field(default_factory=dict)
    privacy_mode: str = "off"
    fallbacks: tuple[str, ...] = ()
    budget: BudgetSignal | None = None
    level_pinned: bool = False  # `auto:<level>`: complexity does not move it


@dataclass(frozen=True, slots=True)
class Exclusion:
    model: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ranked:
    model: str
    provider: str
    power_level: str
    score: float
    estimated_cost_usd: float
    quality: float
    latency_ms: float
    parts: Mapping[str, float]
    note: str = ""


@dataclass
class Decision:
    mode: str  # auto | explicit
    requested: str
    agent: str | None = None
    power_level: str | None = None
    target_power_level: str | None = None
    adjustments: list[str] = field(default_factory=list)
    weights: Mapping[str, float] | None = None
    analysis: PromptAnalysis | None = None
    privacy_mode: str = "off"
    privacy_findings: Sequence[Finding] = ()
    privacy_restricted: bool = False
    ranked: list[Ranked] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)

    def as_dict(self, *, max_listed: int | None = None) -> dict:
        """The explanation, JSON-ready: the body of `/v1/route` and the usage record's `routing`."""
        analysis = self.analysis
        ranked = self.ranked if max_listed is None else self.ranked[:max_listed]
        excluded = self.excluded if max_listed is None else self.excluded[:max_listed]
        return {
            "mode": self.mode,
            "requested": self.requested,
            "agent": self.agent,
            "task": analysis.task if analysis else None,
            "task_scores": dict(analysis.task_scores) if analysis else None,
            "complexity": (
                {"score": analysis.complexity, "level": analysis.complexity_level, "signals": list(analysis.signals)}
                if analysis
                else None
            ),
            "privacy": {
                "mode": self.privacy_mode,
                "restricted": self.privacy_restricted,
                "findings": [{"kind": f.kind, "preview": f.preview} for f in self.privacy_findings],
            },
            "power_level": {
                "requested": self.power_level,
                "target": self.target_power_level,
                "adjustments": list(self.adjustments),
            },
            "weights": dict(self.weights) if self.weights else None,
            "candidates": [
                {
                    "model": r.model,
                    "provider": r.provider,
                    "power_level": r.power_level,
                    "score": round(r.score, 4),
                    "estimated_cost_usd": round(r.estimated_cost_usd, 8),
                    "quality": round(r.quality, 4),
                    "latency_ms": round(r.latency_ms),
                    "parts": {k: round(v, 4) for k, v in r.parts.items()},
                    "note": r.note,
                }
                for r in ranked
            ],
            "candidates_total": len(self.ranked),
            "excluded": [{"model": e.model, "code": e.code, "reason": e.reason} for e in excluded],
            "excluded_total": len(self.excluded),
            "chain": list(self.chain),
        }


# --- exclusions -------------------------------------------------------------------------------------------------


def exclusion(
    model: RoutableModel,
    needs: Needs,
    *,
    auto: bool,
    privacy_restricted: bool,
    check_capabilities: bool | None = None,
    open_circuits: Mapping[str, float | None] | frozenset | set = frozenset(),
    has_key: bool = True,
) -> Exclusion | None:
    """Why this model cannot serve the request, or None. A model the caller named explicitly skips the capability
    checks (the catalog's flags can lag a provider, and the caller asked for it); `auto` also leaves out deprecated
    models and models that cannot be costed."""
    model_id = model.model_id
    if not model.enabled or not model.provider_enabled:
        return Exclusion(model_id, "disabled", "The model or its provider is disabled.")
    if auto and model.deprecated:
        return Exclusion(model_id, "deprecated", "The model is deprecated.")
    if auto and model.price_unknown:
        return Exclusion(model_id, "price_unknown", "Its price is unknown, so it cannot be costed.")
    if auto if check_capabilities is None else check_capabilities:
        for needed, supported, what in (
            (needs.tools, model.supports_tools, "tool calls"),
            (needs.vision, model.supports_vision, "images"),
            (needs.json, model.supports_json, "JSON output"),
        ):
            if needed and not supported:
                return Exclusion(model_id, "capability", f"It does not support {what}, which the request uses.")
    window = model.context_window
    if window and needs.prompt_tokens + (needs.max_tokens or 0) > window:
        return Exclusion(
            model_id,
            "context_length",
            f"The prompt (~{needs.prompt_tokens} tokens) plus max_tokens does not fit its {window}-token context.",
        )
    if privacy_restricted and model.privacy_class not in TRUSTED_PRIVACY_CLASSES:
        return Exclusion(model_id, "privacy", f"Its provider {model.provider_slug} is not marked local or trusted.")
    if model_id in open_circuits:
        return Exclusion(model_id, "circuit_open", "Its circuit is open after recent errors.")
    if not has_key:
        return Exclusion(model_id, "provider_key_missing", f"No API key for provider {model.provider_slug}.")
    return None


def privacy_restricted(mode: str, findings: Sequence[Finding]) -> bool:
    return mode == "always" or (mode == "detect" and bool(findings))


# --- ordering ---------------------------------------------------------------------------------------------------


def target_power_level(
    base: str, analysis: PromptAnalysis | None, budget: BudgetSignal | None
) -> tuple[str, list[str], bool]:
    """(target level, why it moved, whether the cost weight doubles)."""
    index = POWER_LEVELS.index(base)
    adjustments = []
    if analysis is not None and analysis.complexity_level == "high" and index < len(POWER_LEVELS) - 1:
        index += 1
        adjustments.append(f"complexity high ({analysis.complexity:.2f}): one tier up")
    elif analysis is not None and analysis.complexity_level == "low" and index > 0:
        index -= 1
        adjustments.append(f"complexity low ({analysis.complexity:.2f}): one tier down")
    cheaper = False
    if budget is not None and budget.crossed:
        cheaper = True
        adjustments.append(f"{budget.label} {budget.used_fraction:.0%} used: cost weighs double")
        steps = min(budget.crossed - 1, index)
        if steps:
            index -= steps
            adjustments.append(f"{budget.label} {budget.used_fraction:.0%} used: {steps} tier(s) down")
    return POWER_LEVELS[index], adjustments, cheaper


def relative_score(value: float, best: float) -> float:
    """1 for the best (lowest) value, 0.5 at ten times it, 0.33 at a hundred times."""
    return 1 / (1 + math.log10(value / best)) if value > best else 1.0


def estimated_cost(model: RoutableModel, needs: Needs) -> float:
    return needs.prompt_tokens * model.input_price_per_token + needs.output_tokens * model.output_price_per_token


def task_quality(model: RoutableModel, analysis: PromptAnalysis | None) -> float:
    if analysis is None or not analysis.task_scores:
        return model.quality
    table = model.task_quality
    return sum(share * table.get(task, model.quality) for task, share in analysis.task_scores.items())


def rank(
    models: Sequence[RoutableModel],
    needs: Needs,
    *,
    weights: Mapping[str, float],
    target: str,
    analysis: PromptAnalysis | None,
    task_rules: Mapping[str, str] | None = None,
    latency_ms: Mapping[str, float] | None = None,
) -> list[Ranked]:
    if not models:
        return []
    latency_ms = latency_ms or {}
    costs = [estimated_cost(m, needs) for m in models]
    latencies = [latency_ms.get(m.model_id) or TYPICAL_LATENCY_MS.get(m.power_level, 1500.0) for m in models]
    cheapest, fastest = min(costs), min(latencies)
    target_index = POWER_LEVELS.index(target)
    ruled = (task_rules or {}).get(analysis.task) if analysis is not None else None
    ranked = []
    for model, cost, latency in zip(models, costs, latencies, strict=True):
        quality = task_quality(model, analysis)
        tiers_away = (
            abs(POWER_LEVELS.index(model.power_level) - target_index) if model.power_level in POWER_LEVELS else 1
        )
        parts = {
            "cost": weights["cost"] * relative_score(cost + COST_FLOOR_USD, cheapest + COST_FLOOR_USD),
            "latency": weights["latency"] * relative_score(latency, fastest),
            "quality": weights["quality"] * quality,
            "tier": -TIER_PENALTY * tiers_away,
        }
        note = ""
        if ruled and model.model_id == ruled:
            parts["task_rule"] = 1.0 + TIER_PENALTY * len(POWER_LEVELS)
            note = f"task rule: {analysis.task} → {ruled}"
        ranked.append(
            Ranked(
                model.model_id,
                model.provider_slug,
                model.power_level,
                sum(parts.values()),
                cost,
                quality,
                latency,
                parts,
                note,
            )
        )
    priority = {m.model_id: m.provider_priority for m in models}
    ranked.sort(key=lambda r: (-r.score, priority[r.model], r.model))
    return ranked


def chain_of(ranked: Sequence[Ranked], fallbacks: Iterable[str], eligible: Iterable[str]) -> list[str]:
    chain = [r.model for r in ranked[:CHAIN_LENGTH]]
    allowed = set(eligible)
    for model_id in fallbacks:
        if model_id in allowed and model_id not in chain:
            chain.append(model_id)
    return chain


def decide_auto(
    candidates: Sequence[RoutableModel],
    needs: Needs,
    policy: Policy,
    *,
    requested: str,
    analysis: PromptAnalysis | None,
    findings: Sequence[Finding] = (),
    excluded: Iterable[Exclusion] = (),
    open_circuits=frozenset(),
    keyless: Iterable[str] = (),
    latency_ms: Mapping[str, float] | None = None,
    agent: str | None = None,
) -> Decision:
    """Rank every candidate for an `auto` request. `excluded` holds exclusions found before (not in the plan)."""
    restricted = privacy_restricted(policy.privacy_mode, findings)
    target, adjustments, cheaper = target_power_level(
        policy.power_level, None if policy.level_pinned else analysis, policy.budget
    )
    weights = dict(policy.weights)
    if cheaper:
        weights["cost"] *= 2
        weights = normalise_weights(weights)
    keyless = set(keyless)
    decision = Decision(
        mode="auto",
        requested=requested,
        agent=agent,
        power_level=policy.power_level,
        target_power_level=target,
        adjustments=adjustments,
        weights=weights,
        analysis=analysis,
        privacy_mode=policy.privacy_mode,
        privacy_findings=findings,
        privacy_restricted=restricted,
        excluded=list(excluded),
    )
    eligible = []
    for model in candidates:
        why = exclusion(
            model,
            needs,
            auto=True,
            privacy_restricted=restricted,
            open_circuits=open_circuits,
            has_key=model.model_id not in keyless,
        )
        if why is None:
            eligible.append(model)
        else:
            decision.excluded.append(why)
    decision.ranked = rank(
        eligible,
        needs,
        weights=weights,
        target=target,
        analysis=analysis,
        task_rules=policy.task_rules,
        latency_ms=latency_ms,
    )
    decision.chain = chain_of(decision.ranked, policy.fallbacks, (m.model_id for m in eligible))
    return decision


def decide_explicit(
    requested_model: RoutableModel,
    fallbacks: Sequence[RoutableModel],
    needs: Needs,
    policy: Policy,
    *,
    requested: str,
    findings: Sequence[Finding] = (),
    excluded: Iterable[Exclusion] = (),
    open_circuits=frozenset(),
    keyless: Iterable[str] = (),
    agent: str | None = None,
) -> Decision:
    """The model asked for, then the agent's fallbacks; a fallback must also support what the request uses."""
    restricted = privacy_restricted(policy.privacy_mode, findings)
    keyless = set(keyless)
    decision = Decision(
        mode="explicit",
        requested=requested,
        agent=agent,
        privacy_mode=policy.privacy_mode,
        privacy_findings=findings,
        privacy_restricted=restricted,
        excluded=list(excluded),
    )
    for position, model in enumerate((requested_model, *fallbacks)):
        why = exclusion(
            model,
            needs,
            auto=False,
            check_capabilities=position > 0,
            privacy_restricted=restricted,
            open_circuits=open_circuits,
            has_key=model.model_id not in keyless,
        )
        if why is None:
            decision.chain.append(model.model_id)
        else:
            decision.excluded.append(why)
    return decision
