"""What the analytics API and dashboards read: a workspace's usage over a period, from the hourly rollups only
(never the raw records, so a workspace with millions of requests answers as fast as one with a few).

Periods are whole days in the workspace's timezone; rollup hours are UTC hours, so in a zone whose offset is not a
whole number of hours a day's edge falls inside an hour, and that hour counts in the day it starts in.

`with_unrolled=True` (the dashboard, the pages and the analytics API) also shows the records the rollup job has not
read yet: the hours of the workspace touched by records above the rollup's high-water mark
(UsageRollupMark.last_record_id) are summed from their raw records instead of their rollup rows — exactly what the
next run will write for them, so nothing is counted twice, and only those few hours (a rollup interval's worth) are
read raw. Without it the figures are the rollups', a rollup interval behind the gateway.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from apps.analytics.models import UsageRecord, UsageRollup, UsageRollupMark, UsageStatus
from apps.analytics.rollups import HOUR, MARK_NAME, workspace_hour_spans
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
# The same sums over raw records, for the hours the rollup has not read yet.
RECORD_SUMS = {
    "n_requests": Count("id"),
    "n_errors": Count("id", filter=Q(status=UsageStatus.ERROR)),
    "n_prompt_tokens": Sum("prompt_tokens"),
    "n_completion_tokens": Sum("completion_tokens"),
    "total_cost_usd": Sum("cost_usd"),
    "total_latency_ms": Sum("latency_ms"),
    "n_latency_samples": Count("latency_ms"),
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


def unrolled_hours(*, workspace, start_at: datetime.datetime, end_at: datetime.datetime) -> list[datetime.datetime]:
    """The UTC hours starting in [start_at, end_at) in which this workspace has records above the rollup's
    high-water mark: their rollup rows, if any, do not count those records yet."""
    mark = Coalesce(Subquery(UsageRollupMark.objects.filter(name=MARK_NAME).values("last_record_id")[:1]), 0)
    buckets = (
        UsageRecord.objects.filter(
            workspace=workspace, id__gt=mark, created_at__gte=start_at - HOUR, created_at__lt=end_at
        )
        .order_by()
        .annotate(bucket=TruncHour("created_at", tzinfo=datetime.UTC))
        .values_list("bucket", flat=True)
        .distinct()
    )
    hours = {bucket.astimezone(datetime.UTC) for bucket in buckets}
    # As the rollups are read: an hour belongs to the period when it starts inside it.
    return sorted(hour for hour in hours if start_at <= hour < end_at)


@dataclass(frozen=True)
class UsageSources:
    rollups: QuerySet[UsageRollup]
    records: QuerySet[UsageRecord] | None  # the raw records of the hours not rolled up yet, if any


def usage_sources(
    *, workspace, start_at: datetime.datetime, end_at: datetime.datetime, with_unrolled: bool = True
) -> UsageSources:
    """The workspace's usage of the UTC hours starting in [start_at, end_at): the rollups of the hours the rollup job
    has reached, and (with_unrolled) the raw records of those it has not (None when there are none), so that summing
    both counts every call once."""
    rollups = UsageRollup.objects.filter(workspace=workspace, hour__gte=start_at, hour__lt=end_at).order_by()
    hours = unrolled_hours(workspace=workspace, start_at=start_at, end_at=end_at) if with_unrolled else []
    if not hours:
        return UsageSources(rollups=rollups, records=None)
    in_hours = Q()
    for _, start, end in workspace_hour_spans((workspace.pk, hour) for hour in hours):
        in_hours |= Q(created_at__gte=start, created_at__lt=end)
    records = (
        UsageRecord.objects.filter(in_hours, workspace=workspace)
        .order_by()
        .annotate(hour=TruncHour("created_at", tzinfo=datetime.UTC))
    )
    return UsageSources(rollups=rollups.exclude(hour__in=hours), records=records)


def _sources(*, workspace, period: AnalyticsPeriod, with_unrolled: bool) -> UsageSources:
    return usage_sources(
        workspace=workspace, start_at=period.start_at, end_at=period.end_at, with_unrolled=with_unrolled
    )


def _add(a, b):
    """Sums of two sources; a sum over no rows is None."""
    if a is None:
        return b
    return a if b is None else a + b


def _merged(rows, *, group: tuple[str, ...]) -> list[dict]:
    """Rows of both sources with the same group added up."""
    merged: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[name] for name in group)
        if key not in merged:
            merged[key] = dict(row)
            continue
        for name in SUMS:
            merged[key][name] = _add(merged[key][name], row[name])
    return list(merged.values())


def _key_order(key) -> tuple:
    """None after every key, as PostgreSQL orders it."""
    return (key is None, "" if key is None else key)


def usage_series(
    *, workspace, period: AnalyticsPeriod, interval: str, group_by: str, with_unrolled: bool = False
) -> QuerySet | list[dict]:
    """Usage per hour or per day (in the workspace's zone) and per group, oldest first: dicts of `bucket`, `key` and
    the sums of SUMS."""
    sources = _sources(workspace=workspace, period=period, with_unrolled=with_unrolled)
    bucket = TruncDay("hour", tzinfo=period.zone) if interval == "day" else F("hour")
    field = GROUP_FIELDS[group_by]
    rows = sources.rollups.values(bucket=bucket, key=F(field)).annotate(**SUMS).order_by("bucket", "key")
    if sources.records is None:
        return rows
    fresh = sources.records.values(bucket=bucket, key=F(field)).annotate(**RECORD_SUMS)
    merged = _merged([*rows, *fresh], group=("bucket", "key"))
    return sorted(merged, key=lambda row: (row["bucket"], *_key_order(row["key"])))


def usage_costs(*, workspace, period: AnalyticsPeriod, group_by: str, with_unrolled: bool = False) -> QuerySet | list:
    """Usage totals per group over the period, costliest first."""
    sources = _sources(workspace=workspace, period=period, with_unrolled=with_unrolled)
    field = GROUP_FIELDS[group_by]
    rows = sources.rollups.values(key=F(field)).annotate(**SUMS).order_by("-total_cost_usd", "key")
    if sources.records is None:
        return rows
    fresh = sources.records.values(key=F(field)).annotate(**RECORD_SUMS)
    return _costliest_first(_merged([*rows, *fresh], group=("key",)))


def _costliest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (-(row["total_cost_usd"] or 0), *_key_order(row["key"])))


def _totals(*, workspace, period: AnalyticsPeriod, with_unrolled: bool) -> dict:
    sources = _sources(workspace=workspace, period=period, with_unrolled=with_unrolled)
    totals = sources.rollups.aggregate(**SUMS)
    if sources.records is not None:
        fresh = sources.records.aggregate(**RECORD_SUMS)
        totals = {name: _add(value, fresh[name]) for name, value in totals.items()}
    return totals


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


def usage_summary(*, workspace, period: AnalyticsPeriod, with_unrolled: bool = False) -> UsageSummary:
    totals = _zeros(_totals(workspace=workspace, period=period, with_unrolled=with_unrolled))
    previous = _totals(workspace=workspace, period=period.previous(), with_unrolled=with_unrolled)["total_cost_usd"]
    costs = usage_costs(workspace=workspace, period=period, group_by="model", with_unrolled=with_unrolled)
    return UsageSummary(
        period=period,
        totals=totals,
        previous_cost_usd=previous or Decimal("0"),
        top_models=[_zeros(row) for row in costs[:TOP_MODELS]],
    )


@dataclass(frozen=True)
class UsageOverview:
    summary: UsageSummary
    series: list[dict]  # usage_series per day and model
    models: list[dict]  # usage_costs per model
    agents: list[dict]  # usage_costs per agent


def usage_overview(*, workspace, period: AnalyticsPeriod, with_unrolled: bool = False) -> UsageOverview:
    """The usage dashboard's figures from one read of the period, per day, model and agent: summed from it the
    series per day and model, and the same rows as usage_costs per model and per agent and the same summary as
    usage_summary (three fewer passes over the rollups than calling each)."""
    sources = _sources(workspace=workspace, period=period, with_unrolled=with_unrolled)
    groups = {"bucket": TruncDay("hour", tzinfo=period.zone), "key": F("model_name"), "agent_key": F("agent_id")}
    rows = list(sources.rollups.values(**groups).annotate(**SUMS).order_by())
    if sources.records is not None:
        rows = _merged([*rows, *sources.records.values(**groups).annotate(**RECORD_SUMS)], group=tuple(groups))
    series = sorted(_regrouped(rows, ("bucket", "key")), key=lambda row: (row["bucket"], *_key_order(row["key"])))
    models = _costliest_first(_regrouped(rows, ("key",)))
    agents = _costliest_first(
        [{"key": row["agent_key"], **{name: row[name] for name in SUMS}} for row in _regrouped(rows, ("agent_key",))]
    )
    totals = dict.fromkeys(SUMS)
    for row in models:
        totals = {name: _add(value, row[name]) for name, value in totals.items()}
    previous = _totals(workspace=workspace, period=period.previous(), with_unrolled=with_unrolled)["total_cost_usd"]
    summary = UsageSummary(
        period=period,
        totals=_zeros(totals),
        previous_cost_usd=previous or Decimal("0"),
        top_models=[_zeros(row) for row in models[:TOP_MODELS]],
    )
    return UsageOverview(summary=summary, series=series, models=models, agents=agents)


def _regrouped(rows, group: tuple[str, ...]) -> list[dict]:
    """The rows summed again over fewer group fields."""
    return _merged(
        ({**{name: row[name] for name in group}, **{name: row[name] for name in SUMS}} for row in rows), group=group
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
