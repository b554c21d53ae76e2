"""What a workspace could change, read from its own traffic: cheaper models of comparable quality, models that fail
too often, and installed models nobody calls. Reads only; /api/analytics/llm/recommendations serves it.

- cheaper_model: per agent (or no agent) and model over the period, the task mix the router detected (each record's
  `UsageRecord.routing["task_scores"]`, P(task | prompt); else its `routing["task"]`; records with neither count at a
  model's overall quality, as the router does), each
  candidate's quality on that mix from the per-task quality table (`task_quality_map`, else the model's overall
  quality), and the cost of the same tokens at catalog prices (`usage_cost`, as the gateway charges). A candidate is
  suggested when it is callable now (enabled, priced, not deprecated, allowed by the plan, circuit not open), has the
  current model's capabilities (tools, vision, JSON: the records do not say which were used), fits the largest request
  seen, loses at most RECOMMENDATION_QUALITY_TOLERANCE quality and saves at least RECOMMENDATION_MIN_SAVING_PERCENT.
  The saving is scaled to 30 days.
- high_error_rate: a model whose share of failed requests in the workspace's traffic, or in its last health rollup,
  reaches RECOMMENDATION_ERROR_RATE_THRESHOLD over at least RECOMMENDATION_MIN_REQUESTS requests.
- unused_model: an installed model with no request in the period.

The traffic is read from the hourly rollups (UsageRollup keeps each hour's task mix and largest prompt and completion
for this), not the raw records: only the part-hours at the period's two ends and the hours the rollup job has not read
yet are summed from their records, the same way, so the figures are the records' own whatever the job's progress.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import BigIntegerField, Case, Count, F, Max, Q, Sum, Value, When
from django.utils import timezone

from apps.billing.pricing import Prices, usage_cost
from apps.catalog.insights import callable_chat_model_list, price_known
from apps.catalog.models import Model
from apps.catalog.task_scores import task_quality_map
from apps.workspaces.models import Agent, InstalledModel

from .models import ModelHealth, UsageRecord, UsageRollup, UsageStatus
from .rollup_selectors import unrolled_hours
from .rollups import HOUR, TASK_COLUMNS, UNKNOWN_TASK, task_mix_sums, workspace_hour_spans

KINDS = ("cheaper_model", "high_error_rate", "unused_model")
DAYS_PER_MONTH = 30
CAPABILITIES = ("supports_tools", "supports_vision", "supports_json")
RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    days: int


@dataclass(frozen=True, slots=True)
class AgentRef:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Figures:
    """The numbers behind a recommendation; a kind fills only the ones it has."""

    requests: int | None = None
    errors: int | None = None
    error_rate: Decimal | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    spend_usd: Decimal | None = None  # what the records were charged in the period
    current_cost_usd: Decimal | None = None  # the period's tokens at the current model's catalog price
    suggested_cost_usd: Decimal | None = None  # the same tokens at the suggested model's price
    monthly_saving_usd: Decimal | None = None
    saving_percent: Decimal | None = None
    current_quality: Decimal | None = None  # on the traffic's task mix, 0 to 1
    suggested_quality: Decimal | None = None
    task_mix: dict[str, Decimal] = field(default_factory=dict)
    health_error_rate: Decimal | None = None
    health_requests: int | None = None
    circuit_state: str | None = None
    installed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    kind: str
    message: str
    model: str
    suggested_model: str | None
    suggested_installed: bool | None  # cheaper_model: whether the workspace has the suggested model installed
    agent: AgentRef | None
    figures: Figures


@dataclass(frozen=True, slots=True)
class Recommendations:
    period: Period
    results: list[Recommendation]


@dataclass
class _Traffic:
    """One (agent, model) group of the period's traffic."""

    agent_id: int | None
    model_name: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    largest_prompt: int = 0
    largest_completion: int = 0
    spend: Decimal = Decimal(0)
    tasks: dict[str, float] = field(default_factory=dict)  # task -> requests' worth of it

    @property
    def largest_request(self) -> int:
        return self.largest_prompt + self.largest_completion


def usage_recommendations(*, workspace, days: int = 30, kind: str | None = None, now=None) -> Recommendations:
    """The workspace's recommendations over the last `days` days: cheaper models first (largest saving first), then
    error rates (highest first), then unused models (by id). A fixed number of queries whatever the traffic."""
    end = now or timezone.now()
    period = Period(start=end - timedelta(days=days), end=end, days=days)
    traffic = _traffic(workspace=workspace, period=period)
    results: list[Recommendation] = []
    if kind in (None, "cheaper_model"):
        results += _cheaper_models(workspace=workspace, traffic=traffic, period=period)
    if kind in (None, "high_error_rate"):
        results += _high_error_rates(workspace=workspace, traffic=traffic)
    if kind in (None, "unused_model"):
        used = {group.model_name for group in traffic}
        results += _unused_models(workspace=workspace, used=used, days=days)
    return Recommendations(period=period, results=results)


def _traffic(*, workspace, period: Period) -> list[_Traffic]:
    """The period's traffic per (agent, model): the hourly rollups of the whole UTC hours inside it, and the raw
    records of the rest (three queries): the part-hours at either end, which a rollup row would count whole, and the
    hours with records the rollup job has not read yet (a rollup interval's worth, as on the dashboard)."""
    first = _hour_ceil(period.start)
    last = max(_hour_floor(period.end), first)
    stale = unrolled_hours(workspace=workspace, start_at=first, end_at=last) if first < last else []
    groups: dict[tuple, _Traffic] = {}
    rollups = UsageRollup.objects.filter(workspace=workspace, hour__gte=first, hour__lt=last).exclude(hour__in=stale)
    for row in rollups.order_by().values("agent_id", "model_name").annotate(**_ROLLUP_SUMS):
        _add(groups, row, tasks={task: row[f"sum_{column}"] for task, column in TASK_COLUMNS.items()})
    raw = Q()
    for start, stop in _raw_spans(period=period, first=first, last=last, stale=stale):
        raw |= Q(created_at__gte=start, created_at__lt=stop)
    if raw:
        records = UsageRecord.objects.filter(raw, workspace=workspace).order_by()
        for row in records.values("agent_id", "model_name").annotate(**_RECORD_SUMS, **task_mix_sums()):
            _add(groups, row, tasks={task: row[column] for task, column in TASK_COLUMNS.items()})
    return sorted(groups.values(), key=lambda g: (g.agent_id is None, g.agent_id or 0, g.model_name))


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_ceil(moment: datetime) -> datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def _raw_spans(*, period: Period, first: datetime, last: datetime, stale: list[datetime]) -> list[tuple]:
    """The [start, end) ranges read from raw records: before the first whole hour, the hours not rolled up yet, and
    after the last whole hour."""
    spans = [(period.start, min(first, period.end))]
    spans += [(start, end) for _, start, end in workspace_hour_spans((0, hour) for hour in stale)]
    spans.append((max(last, period.start), period.end))
    return [(start, end) for start, end in spans if start < end]


# Rows rolled up before the rollups had a task mix and largest request (migration 0005) hold 0 in every task column:
# their requests count as of unknown task (at the model's overall quality, as the router does with an unanalysed
# prompt) and their token sums bound their largest request, until `manage.py rollup_usage --since` rebuilds them.
_NO_MIX = Q(requests__gt=0, **dict.fromkeys(TASK_COLUMNS.values(), 0))


def _unless_mixed(legacy: str, column: str) -> Case:
    return Case(When(_NO_MIX, then=F(legacy)), default=F(column), output_field=BigIntegerField())


# Named apart from the rollup's fields (an annotation may not shadow one).
_ROLLUP_SUMS = {
    "n_requests": Sum("requests"),
    "n_errors": Sum("errors"),
    "n_prompt": Sum("prompt_tokens"),
    "n_completion": Sum("completion_tokens"),
    "n_cached": Sum("cached_tokens"),
    "n_cache_write": Sum("cache_write_tokens"),
    "largest_prompt": Max(_unless_mixed("prompt_tokens", "largest_prompt_tokens")),
    "largest_completion": Max(_unless_mixed("completion_tokens", "largest_completion_tokens")),
    "spend": Sum("cost_usd"),
    **{f"sum_{column}": Sum(column) for column in TASK_COLUMNS.values()},
    "unmixed": Sum(Case(When(_NO_MIX, then=F("requests")), default=Value(0), output_field=BigIntegerField())),
}
# The same over raw records (as the rollup job sums them), plus task_mix_sums().
_RECORD_SUMS = {
    "n_requests": Count("id"),
    "n_errors": Count("id", filter=Q(status=UsageStatus.ERROR)),
    "n_prompt": Sum("prompt_tokens"),
    "n_completion": Sum("completion_tokens"),
    "n_cached": Sum("cached_tokens"),
    "n_cache_write": Sum("cache_write_tokens"),
    "largest_prompt": Max("prompt_tokens"),
    "largest_completion": Max("completion_tokens"),
    "spend": Sum("cost_usd"),
}


def _add(groups: dict[tuple, _Traffic], row: dict, *, tasks: dict[str, float | None]) -> None:
    """Fold one (agent, model) row of either source into its group."""
    if not row["model_name"]:
        return
    key = (row["agent_id"], row["model_name"])
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Traffic(agent_id=row["agent_id"], model_name=row["model_name"])
    group.requests += row["n_requests"] or 0
    group.errors += row["n_errors"] or 0
    group.prompt_tokens += row["n_prompt"] or 0
    group.completion_tokens += row["n_completion"] or 0
    group.cached_tokens += row["n_cached"] or 0
    group.cache_write_tokens += row["n_cache_write"] or 0
    # The largest prompt and the largest answer may come from different requests: an upper bound.
    group.largest_prompt = max(group.largest_prompt, row["largest_prompt"] or 0)
    group.largest_completion = max(group.largest_completion, row["largest_completion"] or 0)
    group.spend += row["spend"] or Decimal(0)
    tasks = {**tasks, UNKNOWN_TASK: (tasks[UNKNOWN_TASK] or 0) + (row.get("unmixed") or 0)}
    for task, share in tasks.items():
        if share:
            group.tasks[task] = group.tasks.get(task, 0) + share


def _rate(part: int | Decimal, whole: int | Decimal) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES) if whole else Decimal(0)


def _quality(model: Model, table: dict[str, float], mix: dict[str, Decimal]) -> Decimal:
    overall = float(model.quality_score)
    value = sum(
        float(share) * (overall if task == UNKNOWN_TASK else table.get(task, overall)) for task, share in mix.items()
    )
    return Decimal(str(value)).quantize(RATE_PLACES)


def _cost(model: Model, group: _Traffic) -> Decimal | None:
    prices = Prices(model.input_price, model.output_price, model.cache_read_price, model.cache_write_price)
    return usage_cost(
        prices=prices,
        prompt_tokens=group.prompt_tokens,
        completion_tokens=group.completion_tokens,
        cached_tokens=group.cached_tokens,
        cache_write_tokens=group.cache_write_tokens,
    )


def _candidates(*, workspace) -> list[Model]:
    return list(callable_chat_model_list(plan=workspace.plan).order_by("model_id"))


def _agents(*, workspace, traffic: list[_Traffic]) -> dict[int, AgentRef]:
    ids = {group.agent_id for group in traffic if group.agent_id is not None}
    agents = Agent.objects.filter(workspace=workspace, pk__in=ids).values_list("pk", "slug", "name")
    return {pk: AgentRef(pk, slug, name) for pk, slug, name in agents}


def _cheaper_models(*, workspace, traffic: list[_Traffic], period: Period) -> list[Recommendation]:
    if not traffic:
        return []
    current = {m.model_id: m for m in Model.objects.filter(model_id__in={g.model_name for g in traffic})}
    candidates = _candidates(workspace=workspace)
    quality = task_quality_map(model_ids={*current, *(m.model_id for m in candidates)})
    agents = _agents(workspace=workspace, traffic=traffic)
    installed = set(InstalledModel.objects.filter(workspace=workspace).values_list("model__model_id", flat=True))
    tolerance = Decimal(str(settings.RECOMMENDATION_QUALITY_TOLERANCE))
    min_saving = Decimal(str(settings.RECOMMENDATION_MIN_SAVING_PERCENT))
    monthly = Decimal(DAYS_PER_MONTH) / Decimal(period.days)
    found = []
    for group in traffic:
        model = current.get(group.model_name)
        if model is None or not price_known(model):
            continue
        current_cost = _cost(model, group)
        if not current_cost:
            continue
        total = sum(group.tasks.values())
        mix = {task: _rate(Decimal(str(n)), Decimal(str(total))) for task, n in sorted(group.tasks.items()) if n}
        current_quality = _quality(model, quality.get(model.model_id, {}), mix)
        best = None
        for candidate in candidates:
            if candidate.model_id == model.model_id or not _can_replace(candidate, model, group):
                continue
            candidate_quality = _quality(candidate, quality.get(candidate.model_id, {}), mix)
            if candidate_quality < current_quality - tolerance:
                continue
            cost = _cost(candidate, group)
            saving_percent = ((current_cost - cost) / current_cost * 100).quantize(Decimal("0.1"))
            if saving_percent < min_saving:
                continue
            if best is None or cost < best[1] or (cost == best[1] and candidate_quality > best[2]):
                best = (candidate, cost, candidate_quality, saving_percent)
        if best is None:
            continue
        candidate, cost, candidate_quality, saving_percent = best
        saving = ((current_cost - cost) * monthly).quantize(Decimal("0.01"))
        agent = agents.get(group.agent_id)
        who = f"Agent {agent.name}" if agent else "Requests without an agent"
        found.append(
            Recommendation(
                kind="cheaper_model",
                message=(
                    f"{who}: {candidate.model_id} would have cost ${cost:.2f} instead of ${current_cost:.2f} for "
                    f"these {group.requests:,} requests on {model.model_id} ({saving_percent}% less, about "
                    f"${saving} a month) at quality {candidate_quality} against {current_quality} on this task mix."
                ),
                model=model.model_id,
                suggested_model=candidate.model_id,
                suggested_installed=candidate.model_id in installed,
                agent=agent,
                figures=Figures(
                    requests=group.requests,
                    prompt_tokens=group.prompt_tokens,
                    completion_tokens=group.completion_tokens,
                    spend_usd=group.spend,
                    current_cost_usd=current_cost,
                    suggested_cost_usd=cost,
                    monthly_saving_usd=saving,
                    saving_percent=saving_percent,
                    current_quality=current_quality,
                    suggested_quality=candidate_quality,
                    task_mix=mix,
                ),
            )
        )
    found.sort(key=lambda r: -r.figures.monthly_saving_usd)
    return found


def _can_replace(candidate: Model, current: Model, group: _Traffic) -> bool:
    if any(getattr(current, needed) and not getattr(candidate, needed) for needed in CAPABILITIES):
        return False
    return candidate.context_window is None or candidate.context_window >= group.largest_request


def _high_error_rates(*, workspace, traffic: list[_Traffic]) -> list[Recommendation]:
    threshold = Decimal(str(settings.RECOMMENDATION_ERROR_RATE_THRESHOLD))
    minimum = settings.RECOMMENDATION_MIN_REQUESTS
    by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group in traffic:
        by_model[group.model_name][0] += group.requests
        by_model[group.model_name][1] += group.errors
    installed = set(InstalledModel.objects.filter(workspace=workspace).values_list("model__model_id", flat=True))
    health = {
        h.model.model_id: h
        for h in ModelHealth.objects.filter(model__model_id__in={*by_model, *installed}).select_related("model")
    }
    found = []
    for model_id in sorted({*by_model, *health}):
        requests, errors = by_model.get(model_id, (0, 0))
        rate = _rate(errors, requests)
        seen = health.get(model_id)
        own_high = requests >= minimum and rate >= threshold
        health_high = seen is not None and seen.requests >= minimum and seen.error_rate >= threshold
        if not (own_high or health_high):
            continue
        parts = []
        if own_high:
            parts.append(f"{errors:,} of your {requests:,} requests to it failed ({rate * 100:.1f}%)")
        if health_high:
            parts.append(
                f"{seen.error_rate * 100:.1f}% of its {seen.requests:,} requests across Switchyard failed in the last "
                f"{seen.window_seconds // 60} minutes"
            )
        found.append(
            Recommendation(
                kind="high_error_rate",
                message=f"{model_id} fails often: {'; '.join(parts)}. Consider a fallback model or another model.",
                model=model_id,
                suggested_model=None,
                suggested_installed=None,
                agent=None,
                figures=Figures(
                    requests=requests,
                    errors=errors,
                    error_rate=rate,
                    health_error_rate=seen.error_rate if seen else None,
                    health_requests=seen.requests if seen else None,
                    circuit_state=seen.circuit_state if seen else None,
                ),
            )
        )
    found.sort(key=lambda r: -max(r.figures.error_rate, r.figures.health_error_rate or 0))
    return found


def _unused_models(*, workspace, used: set[str], days: int) -> list[Recommendation]:
    installed = (
        InstalledModel.objects.filter(workspace=workspace)
        .exclude(model__model_id__in=used)
        .select_related("model")
        .order_by("model__model_id")
    )
    return [
        Recommendation(
            kind="unused_model",
            message=f"{item.model.model_id} is installed but had no request in the last {days} days: uninstall it to "
            "keep the model list short.",
            model=item.model.model_id,
            suggested_model=None,
            suggested_installed=None,
            agent=None,
            figures=Figures(requests=0, installed_at=item.created_at),
        )
        for item in installed
    ]
