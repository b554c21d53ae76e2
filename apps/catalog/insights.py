"""Marketplace insights over the catalog: compare models side by side, estimate what a volume of tokens costs, and
recommend models for a task. Reads only; the /api views (insight_apis.py) and the marketplace pages share them.

Costs are what the gateway would charge for the same tokens (`apps.billing.pricing.usage_cost`): each kind of token at
its own price, cached reads and cache writes at the input price where the catalog has no cache price, one request
rounded to the usage record's 10 decimals, then multiplied by the number of requests. A model whose price is unknown
is never costed (its costs are None).

Recommendations rank the models a plan allows with the router's own scoring (`apps.routing.router.rank`), as if a
request of the given task and size came in:
- candidates: enabled chat models at enabled providers, not deprecated, priced, allowed by the plan (the workspace's
  unless another is named), with the capabilities and context asked for, and not behind an open circuit;
- target power level: the one asked for, else the workspace's; one tier up for complexity `high`, one down for
  `low`, and one down for budget `low` (never past the ends);
- weights: budget `low` weighs cost most, `high` quality most, `medium` uses the workspace's routing weights;
- quality is the model's score for the task from the per-task quality table, else its overall score.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, ExpressionWrapper, Q

from apps.analytics.models import CircuitState
from apps.billing.pricing import COST_QUANTUM, Prices, usage_cost
from apps.core.errors import ApplicationError
from apps.routing import router
from apps.routing.prompt_analysis import PromptAnalysis
from apps.workspaces.selectors import installed_model_ids, plan_model_filter

from .models import Model, ModelAlias, ModelMode, TaskScore
from .task_scores import SOURCE_PRECEDENCE, task_quality_map

PER_MILLION = Decimal(1_000_000)
COMPARE_MIN_MODELS = 2
COMPARE_MAX_MODELS = 4
ESTIMATE_MAX_MODELS = 50
LEVELS = ("low", "medium", "high")
# Budget preference -> routing weights; `medium` takes the workspace's own.
BUDGET_WEIGHTS = {
    "low": {"cost": 0.7, "latency": 0.1, "quality": 0.2},
    "high": {"cost": 0.1, "latency": 0.2, "quality": 0.7},
}
QUALITY_SOURCE_LABELS = {"manual": "set by staff", "benchmark": "from benchmark runs", "import": "from imported data"}


# --- volumes and their cost --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Volume:
    """Requests of one shape: tokens per request, how many requests, and optionally a monthly number of them."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0  # of input_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of input_tokens, written to it
    requests: int = 1
    requests_per_month: int | None = None

    @property
    def tokens_per_request(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Workload:
    key: str
    name: str
    description: str
    volume: Volume


# The sample workloads of the comparison: small to large prompts, and a month of a support bot whose system prompt is
# served from the prompt cache (where cache prices make the difference).
SAMPLE_WORKLOADS = (
    Workload("chat_turn", "One chat turn", "A question with some context and a short answer.", Volume(1_000, 300)),
    Workload(
        "rag_answer",
        "One RAG answer",
        "Six retrieved passages in the prompt, an answer citing them.",
        Volume(6_000, 500),
    ),
    Workload(
        "document_summary", "Summarise a long report", "A 60-page report summarised in one page.", Volume(40_000, 1_000)
    ),
    Workload(
        "support_bot_month",
        "A support bot for a month",
        "1,000 answers a day for 30 days: a 2,000-token system prompt read from the prompt cache, 500 tokens of "
        "conversation and a 250-token answer each.",
        Volume(2_500, 250, cached_input_tokens=2_000, requests=30_000),
    ),
)


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """USD per token and per 1M tokens; None where the catalog has no price."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None

    @classmethod
    def of(cls, model: Model) -> "ModelPrices":
        return cls(model.input_price, model.output_price, model.cache_read_price, model.cache_write_price)

    @property
    def input_per_million(self) -> Decimal | None:
        return _per_million(self.input)

    @property
    def output_per_million(self) -> Decimal | None:
        return _per_million(self.output)

    @property
    def cache_read_per_million(self) -> Decimal | None:
        return _per_million(self.cache_read)

    @property
    def cache_write_per_million(self) -> Decimal | None:
        return _per_million(self.cache_write)


def _per_million(price: Decimal | None) -> Decimal | None:
    return None if price is None else price * PER_MILLION


def price_known(model: Model) -> bool:
    return not model.price_unknown and model.input_price is not None and model.output_price is not None


@dataclass(frozen=True, slots=True)
class Cost:
    """What a volume costs on one model, in USD; every figure is None when the model's price is unknown."""

    per_request_usd: Decimal | None
    total_usd: Decimal | None  # per request x requests
    monthly_usd: Decimal | None  # per request x requests_per_month, when a monthly volume was given
    input_usd: Decimal | None  # the parts of one request
    cached_input_usd: Decimal | None
    cache_write_usd: Decimal | None
    output_usd: Decimal | None
    cache_savings_usd: Decimal | None  # per request, against the same prompt uncached (negative if writes cost more)
    fits_context: bool
    notes: tuple[str, ...]


def _usd(amount: Decimal) -> Decimal:
    return amount.quantize(COST_QUANTUM)


def volume_cost(*, model: Model, volume: Volume) -> Cost:
    notes = []
    fits = model.context_window is None or volume.tokens_per_request <= model.context_window
    if not fits:
        notes.append(
            f"A request of {volume.tokens_per_request:,} tokens does not fit "
            f"its {model.context_window:,}-token context."
        )
    if model.max_output_tokens is not None and volume.output_tokens > model.max_output_tokens:
        notes.append(f"It writes at most {model.max_output_tokens:,} output tokens per request.")
    if model.deprecated_at is not None:
        notes.append("It is deprecated.")
    if not (model.enabled and model.provider.enabled):
        notes.append("It is disabled: the gateway does not call it now.")
    if not price_known(model):
        notes.append("Its price is unknown, so it cannot be costed.")
        return Cost(None, None, None, None, None, None, None, None, fits, tuple(notes))

    if volume.cached_input_tokens and model.cache_read_price is None:
        notes.append("It has no cache-read price: cached tokens cost the input price.")
    if volume.cache_write_tokens and model.cache_write_price is None:
        notes.append("It has no cache-write price: tokens written to the cache cost the input price.")
    prices = Prices(model.input_price, model.output_price, model.cache_read_price, model.cache_write_price)
    per_request = usage_cost(
        prices=prices,
        prompt_tokens=volume.input_tokens,
        completion_tokens=volume.output_tokens,
        cached_tokens=volume.cached_input_tokens,
        cache_write_tokens=volume.cache_write_tokens,
    )
    uncached = usage_cost(prices=prices, prompt_tokens=volume.input_tokens, completion_tokens=volume.output_tokens)
    fresh_tokens = max(volume.input_tokens - volume.cached_input_tokens - volume.cache_write_tokens, 0)
    cache_read_price = prices.cache_read if prices.cache_read is not None else prices.input
    cache_write_price = prices.cache_write if prices.cache_write is not None else prices.input
    return Cost(
        per_request_usd=per_request,
        total_usd=per_request * volume.requests,
        monthly_usd=None if volume.requests_per_month is None else per_request * volume.requests_per_month,
        input_usd=_usd(fresh_tokens * prices.input),
        cached_input_usd=_usd(volume.cached_input_tokens * cache_read_price),
        cache_write_usd=_usd(volume.cache_write_tokens * cache_write_price),
        output_usd=_usd(volume.output_tokens * prices.output),
        cache_savings_usd=uncached - per_request,
        fits_context=fits,
        notes=tuple(notes),
    )


# --- the caller's view of a model: installed, allowed by the plan, or which plan unlocks it ------------------------


@dataclass(frozen=True, slots=True)
class PlanRef:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Access:
    installed: bool
    available_on_my_plan: bool
    unlocked_by: PlanRef | None  # the first plan offered that allows it, when the workspace's plan does not


def model_access_map(*, workspace, models: Sequence[Model]) -> dict[int, Access]:
    """model pk -> Access for the workspace, in three queries whatever the number of models and plans: the installed
    models, the plans, and every plan's rule (workspaces' `plan_model_filter`) evaluated on the models at once."""
    from apps.workspaces.models import ModelAccess, Plan

    installed = set(installed_model_ids(workspace=workspace))
    plans = list(Plan.objects.order_by("sort_order", "slug"))
    rules = {
        f"plan_{plan.pk}": ExpressionWrapper(plan_model_filter(plan=plan), output_field=BooleanField())
        for plan in plans
        if plan.model_access != ModelAccess.ALL
    }
    allowed: dict[int, dict] = {}
    if rules and models:
        rows = Model.objects.filter(pk__in=[m.pk for m in models]).annotate(**rules).values("pk", *rules)
        allowed = {row.pop("pk"): row for row in rows}

    def allows(plan, model_pk: int) -> bool:
        return plan.model_access == ModelAccess.ALL or bool(allowed.get(model_pk, {}).get(f"plan_{plan.pk}"))

    access = {}
    for model in models:
        mine = allows(workspace.plan, model.pk)
        unlocking = None if mine else next((p for p in plans if allows(p, model.pk)), None)
        access[model.pk] = Access(
            installed=model.model_id in installed,
            available_on_my_plan=mine,
            unlocked_by=PlanRef(unlocking.slug, unlocking.name) if unlocking else None,
        )
    return access


def model_health(model: Model):
    """The model's last health rollup (loaded with select_related("health")), or None when it has had no traffic."""
    try:
        return model.health
    except Model.health.RelatedObjectDoesNotExist:
        return None


def catalog_models_resolve(*, names: Sequence[str], field: str) -> list[Model]:
    """The catalog models named by canonical id or alias, in the order given, with provider and health, in two
    queries at most. An unknown name, or two names of one model, is bad input on `field`."""
    models = Model.objects.select_related("provider", "health")
    by_id = {model.model_id: model for model in models.filter(model_id__in=names)}
    by_alias = {}
    if missing := [name for name in names if name not in by_id]:
        aliases = ModelAlias.objects.filter(alias__in=missing).select_related("model__provider", "model__health")
        by_alias = {alias.alias: alias.model for alias in aliases}
    unknown = [name for name in names if name not in by_id and name not in by_alias]
    if unknown:
        raise ApplicationError(
            f"Unknown model{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            extra={"field": field},
            code="unknown_model",
        )
    resolved, seen = [], set()
    for name in names:
        model = by_id.get(name) or by_alias[name]
        if model.pk in seen:
            raise ApplicationError(
                f"{name} names {model.model_id}, which is already listed.",
                extra={"field": field},
                code="duplicate_model",
            )
        seen.add(model.pk)
        resolved.append(model)
    return resolved


# --- compare -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelInsight:
    model: Model
    access: Access
    task_quality: dict[str, float]

    @property
    def prices(self) -> ModelPrices:
        return ModelPrices.of(self.model)

    @property
    def health(self):
        return model_health(self.model)


@dataclass(frozen=True, slots=True)
class ModelCost:
    model_id: str
    cost: Cost


@dataclass(frozen=True, slots=True)
class WorkloadComparison:
    workload: Workload
    costs: list[ModelCost]
    cheapest: list[str]  # the model ids of the lowest total cost among those it fits; several on a tie


@dataclass(frozen=True, slots=True)
class Comparison:
    models: list[ModelInsight]
    workloads: list[WorkloadComparison]
    highlights: dict[str, list[str]] = field(default_factory=dict)


def _best(values: Iterable[tuple[str, Decimal | float | int | None]], *, lowest: bool) -> list[str]:
    """The ids holding the best value (all of them on a tie); none when no model has the value."""
    known = [(model_id, value) for model_id, value in values if value is not None]
    if not known:
        return []
    best = (min if lowest else max)(value for _, value in known)
    return [model_id for model_id, value in known if value == best]


def model_compare(*, workspace, names: Sequence[str]) -> Comparison:
    """2-4 models side by side, with what each sample workload costs on them. Six queries."""
    if not COMPARE_MIN_MODELS <= len(names) <= COMPARE_MAX_MODELS:
        raise ApplicationError(
            f"Compare {COMPARE_MIN_MODELS} to {COMPARE_MAX_MODELS} models; {len(names)} given.",
            extra={"field": "models"},
            code="invalid",
        )
    models = catalog_models_resolve(names=names, field="models")
    access = model_access_map(workspace=workspace, models=models)
    quality = task_quality_map(model_ids=[m.model_id for m in models])
    insights = [ModelInsight(m, access[m.pk], quality.get(m.model_id, {})) for m in models]
    workloads = []
    for workload in SAMPLE_WORKLOADS:
        costs = [ModelCost(m.model_id, volume_cost(model=m, volume=workload.volume)) for m in models]
        cheapest = _best(((c.model_id, c.cost.total_usd) for c in costs if c.cost.fits_context), lowest=True)
        workloads.append(WorkloadComparison(workload, costs, cheapest))
    highlights = {
        "lowest_input_price": _best(((m.model_id, m.input_price) for m in models if price_known(m)), lowest=True),
        "lowest_output_price": _best(((m.model_id, m.output_price) for m in models if price_known(m)), lowest=True),
        "largest_context": _best(((m.model_id, m.context_window) for m in models), lowest=False),
        "highest_quality": _best(((m.model_id, m.quality_score) for m in models), lowest=False),
        "lowest_latency": _best(
            ((i.model.model_id, i.health.latency_p50_ms if i.health else None) for i in insights), lowest=True
        ),
    }
    return Comparison(insights, workloads, highlights)


# --- estimate ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EstimateLine:
    requested: str
    model: Model
    access: Access
    cost: Cost

    @property
    def prices(self) -> ModelPrices:
        return ModelPrices.of(self.model)


@dataclass(frozen=True, slots=True)
class Estimate:
    volume: Volume
    lines: list[EstimateLine]
    cheapest: list[str]


def model_estimate(*, workspace, names: Sequence[str] | None, volume: Volume) -> Estimate:
    """What the volume costs on each model named (canonical ids or aliases), or on each model installed in the
    workspace when none is named. Five queries at most."""
    if volume.cached_input_tokens + volume.cache_write_tokens > volume.input_tokens:
        raise ApplicationError(
            "cached_input_tokens and cache_write_tokens are part of input_tokens, so together at most input_tokens.",
            extra={"field": "cached_input_tokens"},
            code="invalid",
        )
    if names is None:
        models = list(
            Model.objects.filter(installations__workspace=workspace).select_related("provider").order_by("model_id")
        )
        if not models:
            raise ApplicationError(
                "Name the models to estimate: none is installed in this workspace.",
                extra={"field": "models"},
                code="invalid",
            )
        requested = [m.model_id for m in models]
    else:
        if not 1 <= len(names) <= ESTIMATE_MAX_MODELS:
            raise ApplicationError(
                f"Estimate 1 to {ESTIMATE_MAX_MODELS} models; {len(names)} given.",
                extra={"field": "models"},
                code="invalid",
            )
        models = catalog_models_resolve(names=names, field="models")
        requested = list(names)
    access = model_access_map(workspace=workspace, models=models)
    lines = [
        EstimateLine(name, m, access[m.pk], volume_cost(model=m, volume=volume))
        for name, m in zip(requested, models, strict=True)
    ]
    cheapest = _best(
        ((line.model.model_id, line.cost.total_usd) for line in lines if line.cost.fits_context), lowest=True
    )
    return Estimate(volume, lines, cheapest)


# --- recommend ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecommendQuery:
    task: str = "chat"
    complexity: str = "medium"
    budget: str = "medium"
    power_level: str | None = None  # default: the workspace's preferred level
    plan: object | None = None  # a workspaces.Plan; default: the workspace's
    tools: bool = False
    vision: bool = False
    json: bool = False
    reasoning: bool = False
    min_context: int | None = None
    installed: bool | None = None  # True: installed only; False: not installed only
    input_tokens: int = 2_000
    output_tokens: int = 500
    limit: int = 5


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A catalog model as the router's RoutableModel (apps/routing/router.py)."""

    model: Model
    task_quality: dict[str, float]
    quality_source: str | None

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def provider_slug(self) -> str:
        return self.model.provider.slug

    @property
    def provider_priority(self) -> int:
        return self.model.provider.priority

    @property
    def power_level(self) -> str:
        return self.model.power_level

    @property
    def quality(self) -> float:
        return float(self.model.quality_score)

    @property
    def input_price_per_token(self) -> float:
        return float(self.model.input_price)

    @property
    def output_price_per_token(self) -> float:
        return float(self.model.output_price)


@dataclass(frozen=True, slots=True)
class Recommended:
    rank: int
    model: Model
    access: Access
    score: float
    score_parts: dict[str, float]
    task_quality: float
    quality_source: str | None  # None: the model's overall quality (no score for the task)
    cost: Cost
    latency_p50_ms: int | None
    reason: str

    @property
    def prices(self) -> ModelPrices:
        return ModelPrices.of(self.model)


@dataclass(frozen=True, slots=True)
class Recommendation:
    query: RecommendQuery
    plan: PlanRef
    target_power_level: str
    weights: dict[str, float]
    candidates_total: int
    results: list[Recommended]


def _target_level(query: RecommendQuery, workspace) -> str:
    try:
        base = router.power_level_of(query.power_level or workspace.preferred_power_level)
    except router.InvalidPolicy:
        base = "BALANCED"
    index = router.POWER_LEVELS.index(base)
    index += {"low": -1, "medium": 0, "high": 1}[query.complexity]
    index -= 1 if query.budget == "low" else 0
    return router.POWER_LEVELS[min(max(index, 0), len(router.POWER_LEVELS) - 1)]


def _weights(query: RecommendQuery, workspace) -> dict[str, float]:
    if query.budget in BUDGET_WEIGHTS:
        return dict(BUDGET_WEIGHTS[query.budget])
    try:
        return router.normalise_weights(workspace.routing_weights)
    except router.InvalidPolicy:
        return dict(router.DEFAULT_WEIGHTS)


def callable_chat_model_list(*, plan):
    """The chat models a workspace on `plan` could be routed to now: enabled at an enabled provider, priced, not
    deprecated, allowed by the plan, and not behind an open circuit."""
    return (
        Model.objects.filter(
            mode=ModelMode.CHAT,
            enabled=True,
            provider__enabled=True,
            deprecated_at__isnull=True,
            price_unknown=False,
            input_price__isnull=False,
            output_price__isnull=False,
        )
        .filter(plan_model_filter(plan=plan))
        .exclude(health__circuit_state=CircuitState.OPEN)
    )


def _candidate_models(*, workspace, plan, query: RecommendQuery):
    models = callable_chat_model_list(plan=plan).select_related("provider", "health")
    for needed in ("tools", "vision", "json", "reasoning"):
        if getattr(query, needed):
            models = models.filter(**{f"supports_{needed}": True})
    request_tokens = query.input_tokens + query.output_tokens
    if query.min_context is not None:  # an unknown window cannot be promised
        models = models.filter(context_window__gte=max(query.min_context, request_tokens))
    else:  # as the router does: an unknown window is not held against a model
        models = models.filter(Q(context_window__isnull=True) | Q(context_window__gte=request_tokens))
    if query.installed is True:
        models = models.filter(installations__workspace=workspace)
    elif query.installed is False:
        models = models.exclude(installations__workspace=workspace)
    return models


def _task_scores(task: str) -> dict[int, tuple[float, str]]:
    """model pk -> (score for the task, its source), from the most trusted source (as task_quality_map)."""
    rank = {source: position for position, source in enumerate(SOURCE_PRECEDENCE)}
    best: dict[int, tuple[int, float, str]] = {}
    for model_pk, source, score in TaskScore.objects.filter(task=task).values_list("model_id", "source", "score"):
        if model_pk not in best or rank[source] < best[model_pk][0]:
            best[model_pk] = (rank[source], float(score), source)
    return {model_pk: (score, source) for model_pk, (_, score, source) in best.items()}


def model_recommend(*, workspace, query: RecommendQuery) -> Recommendation:
    """The best `limit` models for the query, ranked, each with the reason. Six queries whatever the catalog's size:
    the candidates, their task scores, and the caller's access to the results (installed, plans, plan rules)."""
    plan = query.plan or workspace.plan
    target = _target_level(query, workspace)
    weights = _weights(query, workspace)
    scores = _task_scores(query.task)
    candidates = []
    for model in _candidate_models(workspace=workspace, plan=plan, query=query):
        score, source = scores.get(model.pk, (None, None))
        candidates.append(_Candidate(model, {query.task: score} if score is not None else {}, source))
    latency = {}
    for candidate in candidates:
        health = model_health(candidate.model)
        if health is not None and health.latency_p50_ms:
            latency[candidate.model_id] = float(health.latency_p50_ms)
    analysis = PromptAnalysis(
        task=query.task,
        task_scores={query.task: 1.0},
        complexity={"low": 0.0, "medium": 0.5, "high": 1.0}[query.complexity],
        complexity_level=query.complexity,
        signals=(),
        prompt_tokens=query.input_tokens,
    )
    needs = router.Needs(prompt_tokens=query.input_tokens, max_tokens=query.output_tokens)
    ranked = router.rank(candidates, needs, weights=weights, target=target, analysis=analysis, latency_ms=latency)
    by_id = {candidate.model_id: candidate for candidate in candidates}
    top = ranked[: query.limit]
    access = model_access_map(workspace=workspace, models=[by_id[r.model].model for r in top])
    cheapest = min((r.estimated_cost_usd for r in ranked), default=0.0)
    volume = Volume(query.input_tokens, query.output_tokens)
    results = []
    for position, r in enumerate(top, start=1):
        candidate = by_id[r.model]
        model_access = access[candidate.model.pk]
        cost = volume_cost(model=candidate.model, volume=volume)
        results.append(
            Recommended(
                rank=position,
                model=candidate.model,
                access=model_access,
                score=round(r.score, 4),
                score_parts={name: round(value, 4) for name, value in r.parts.items()},
                task_quality=round(r.quality, 4),
                quality_source=candidate.quality_source,
                cost=cost,
                latency_p50_ms=int(latency[r.model]) if r.model in latency else None,
                reason=_reason(r, candidate, cost, query=query, target=target, cheapest=cheapest, access=model_access),
            )
        )
    return Recommendation(query, PlanRef(plan.slug, plan.name), target, weights, len(candidates), results)


def _reason(r: router.Ranked, candidate: _Candidate, cost: Cost, *, query, target, cheapest, access: Access) -> str:
    level = r.power_level.title()
    tiers_away = abs(router.POWER_LEVELS.index(r.power_level) - router.POWER_LEVELS.index(target))
    sentences = []
    if tiers_away == 0:
        sentences.append(
            f"{level} tier, the target for a {query.complexity}-complexity {query.task} task "
            f"on a {query.budget} budget."
        )
    else:
        sentences.append(f"{level} tier, {tiers_away} away from the target ({target.title()}).")
    if candidate.quality_source is not None:
        sentences.append(
            f"{query.task.title()} quality {r.quality:.2f} ({QUALITY_SOURCE_LABELS[candidate.quality_source]})."
        )
    else:
        sentences.append(f"Quality {r.quality:.2f} (its overall score: no {query.task} score yet).")
    per_request = f"${cost.per_request_usd.normalize():f} per request"
    if r.estimated_cost_usd <= cheapest * 1.05:
        sentences.append(f"Among the cheapest candidates: {per_request}.")
    elif cheapest == 0:
        sentences.append(f"{per_request}; the cheapest candidates are free.")
    else:
        times = r.estimated_cost_usd / cheapest
        sentences.append(
            f"{per_request}, {times:.1f}x the cheapest candidate."
            if times < 10
            else f"{per_request}, {times:,.0f}x the cheapest candidate."
        )
    health = model_health(candidate.model)
    if health is not None and health.latency_p50_ms:
        sentences.append(f"Median latency {health.latency_p50_ms} ms lately.")
    if not access.available_on_my_plan:
        unlock = f"; {access.unlocked_by.name} includes it" if access.unlocked_by else ""
        sentences.append(f"Not on your plan{unlock}.")
    sentences.append("Installed in your workspace." if access.installed else "Not installed in your workspace yet.")
    return " ".join(sentences)
