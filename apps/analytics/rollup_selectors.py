"""What the analytics API and dashboards read: a workspace's usage over a period, from the hourly rollups only
(never the raw records, so a workspace with millions of requests answers as fast as one with a few).

Periods are whole days in the workspace's timezone; rollup hours are UTC hours, so in a zone whose offset is not a
whole number of hours a day's edge falls inside an hour, and that hour counts in the day it starts in.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from apps.analytics.models import UsageRollup
from apps.billing.selectors import workspace_zone
from apps.catalog.models import Provider
from apps.keys.models import ApiKey
from apps.workspaces.models import Agent

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"
# The rollup field each grouping reads.
GROUP_FIELDS = {"model": "model_name", "provider": "provider_slug", "agent": "agent_id", "api_key": "api_key_id"}
TOP_MODELS = 3
# Named apart from the rollup's fields (an annotation may not shadow one).
SUMS = {
    "n_requests": Sum("requests"),
    "n_errors": Sum("errors"),
    "n_prompt_tokens": Sum("prompt_tokens"),
    "n_completion_tokens": Sum("completion_tokens"),
    "total_cost_usd": Sum("cost_usd"),
    "total_latency_ms": Sum("latency_ms_sum"),
    "n_latency_samples": Sum("latency_samples"),
}


@dataclass(frozen=True)
class AnalyticsPeriod:
    """From `start` to `end`, both whole days included, in the workspace's timezone."""

    start: datetime.date
    end: datetime.date
    zone: ZoneInfo

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime.datetime:
        return datetime.datetime.combine(self.start, datetime.time(), tzinfo=self.zone)

    @property
    def end_at(self) -> datetime.datetime:
        """Exclusive: the next day's midnight."""
        return datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time(), tzinfo=self.zone)

    def previous(self) -> "AnalyticsPeriod":
        """The period of the same length just before this one (for the trend)."""
        length = datetime.timedelta(days=self.days)
        return AnalyticsPeriod(start=self.start - length, end=self.end - length, zone=self.zone)


def analytics_period(
    *, workspace, start: datetime.date | None = None, end: datetime.date | None = None, period: str | None = None
) -> AnalyticsPeriod:
    """`start`..`end` if given, else the last 7, 30 or 90 days up to today (30 by default), in the workspace's zone."""
    zone = workspace_zone(workspace.timezone)
    if start is not None and end is not None:
        return AnalyticsPeriod(start=start, end=end, zone=zone)
    today = timezone.now().astimezone(zone).date()
    days = PERIOD_DAYS[period or DEFAULT_PERIOD]
    return AnalyticsPeriod(start=today - datetime.timedelta(days=days - 1), end=today, zone=zone)


def _rollups(*, workspace, period: AnalyticsPeriod) -> QuerySet[UsageRollup]:
    return UsageRollup.objects.filter(workspace=workspace, hour__gte=period.start_at, hour__lt=period.end_at).order_by()


def usage_series(*, workspace, period: AnalyticsPeriod, interval: str, group_by: str) -> QuerySet:
    """Usage per hour or per day (in the workspace's zone) and per group, oldest first: dicts of `bucket`, `key` and
    the sums of SUMS."""
    rollups = _rollups(workspace=workspace, period=period)
    bucket = TruncDay("hour", tzinfo=period.zone) if interval == "day" else F("hour")
    return rollups.values(bucket=bucket, key=F(GROUP_FIELDS[group_by])).annotate(**SUMS).order_by("bucket", "key")


def usage_costs(*, workspace, period: AnalyticsPeriod, group_by: str) -> QuerySet:
    """Usage totals per group over the period, costliest first."""
    rollups = _rollups(workspace=workspace, period=period)
    return rollups.values(key=F(GROUP_FIELDS[group_by])).annotate(**SUMS).order_by("-total_cost_usd", "key")


@dataclass(frozen=True)
class UsageSummary:
    period: AnalyticsPeriod
    totals: dict  # the sums of SUMS (zeros when nothing was used)
    previous_cost_usd: Decimal
    top_models: list[dict]  # the TOP_MODELS costliest models: `key` and the sums of SUMS

    @property
    def trend_percent(self) -> Decimal | None:
        """The period's cost against the previous one's, in %; none when there is nothing to compare with."""
        if not self.previous_cost_usd:
            return None
        change = (self.totals["total_cost_usd"] - self.previous_cost_usd) / self.previous_cost_usd * 100
        return change.quantize(Decimal("0.01"))


def usage_summary(*, workspace, period: AnalyticsPeriod) -> UsageSummary:
    rollups = _rollups(workspace=workspace, period=period)
    totals = _zeros(rollups.aggregate(**SUMS))
    previous = _rollups(workspace=workspace, period=period.previous()).aggregate(cost=Sum("cost_usd"))["cost"]
    top = list(usage_costs(workspace=workspace, period=period, group_by="model")[:TOP_MODELS])
    return UsageSummary(
        period=period,
        totals=totals,
        previous_cost_usd=previous or Decimal("0"),
        top_models=[_zeros(row) for row in top],
    )


def usage_group_labels(*, workspace, group_by: str, keys: set) -> dict:
    """What to show for each group key of a page: the agent's slug, the API key's name and mask, the provider's name;
    a model is its own label. Only the workspace's own agents and keys are looked up."""
    keys = keys - {None, ""}
    if group_by == "agent":
        return dict(Agent.objects.filter(workspace=workspace, pk__in=keys).values_list("pk", "slug"))
    if group_by == "api_key":
        return {key.pk: str(key) for key in ApiKey.objects.filter(workspace=workspace, pk__in=keys)}
    if group_by == "provider":
        return dict(Provider.objects.filter(slug__in=keys).values_list("slug", "name"))
    return {key: key for key in keys}


def usage_average_latency_ms(row: dict) -> int | None:
    if not row["n_latency_samples"]:
        return None
    return round(row["total_latency_ms"] / row["n_latency_samples"])


def usage_error_rate(row: dict) -> Decimal:
    """Errors over requests, 0–1 to 4 decimals."""
    if not row["n_requests"]:
        return Decimal("0")
    return (Decimal(row["n_errors"]) / Decimal(row["n_requests"])).quantize(Decimal("0.0001"))


def _zeros(row: dict) -> dict:
    """Sums over no rows are None; the API shows 0."""
    return {
        name: (value if value is not None else (Decimal("0") if name == "total_cost_usd" else 0))
        for name, value in row.items()
    }
