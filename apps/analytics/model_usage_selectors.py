"""Usage per catalog model, read from the hourly rollups: one workspace's use of a model (the model's page, with the
hours not rolled up yet), and every workspace's requests per model (the catalog's "most used" order, which names no
workspace)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Min, Sum
from django.utils import timezone

from apps.analytics.models import UsageRollup
from apps.analytics.rollup_selectors import HOUR, usage_sources

POPULARITY_WINDOW = datetime.timedelta(days=30)
# Raw records are kept USAGE_RETENTION_DAYS (400 by default, 0 = for ever): look for unrolled ones that far back.
ALL_TIME = datetime.timedelta(days=100 * 365)


@dataclass(frozen=True)
class ModelUsage:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    first_hour: datetime.datetime | None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def workspace_model_usage(*, workspace, model_id: str) -> ModelUsage:
    """What the workspace has used of one model so far: every rolled-up hour (rollups outlive the raw records), and
    the hours the rollup job has not reached yet from their records, as the dashboard reads them (a call shows at
    once and is counted once)."""
    now = timezone.now()
    sources = usage_sources(workspace=workspace, start_at=now - ALL_TIME, end_at=now + HOUR)
    sums = sources.rollups.filter(model_name=model_id).aggregate(
        requests=Sum("requests"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
        first_hour=Min("hour"),
    )
    if sources.records is not None:
        fresh = sources.records.filter(model_name=model_id).aggregate(
            requests=Count("id"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost_usd=Sum("cost_usd"),
            first_hour=Min("hour"),
        )
        sums = {name: _combined(name, sums[name], fresh[name]) for name in sums}
    return ModelUsage(
        requests=sums["requests"] or 0,
        prompt_tokens=sums["prompt_tokens"] or 0,
        completion_tokens=sums["completion_tokens"] or 0,
        cost_usd=sums["cost_usd"] or Decimal("0"),
        first_hour=sums["first_hour"],
    )


def _combined(name: str, rolled, fresh):
    if rolled is None or fresh is None:
        return fresh if rolled is None else rolled
    return min(rolled, fresh) if name == "first_hour" else rolled + fresh


def platform_model_request_counts(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Canonical model id -> requests over the last 30 days across every workspace."""
    since = (now or timezone.now()) - POPULARITY_WINDOW
    rows = (
        UsageRollup.objects.filter(hour__gte=since)
        .order_by()
        .values("model_name")
        .annotate(total=Sum("requests"))
        .values_list("model_name", "total")
    )
    return {model_name: total or 0 for model_name, total in rows}
