"""The hourly usage rollup: UsageRecords summed per UTC hour × workspace × agent × API key × model into UsageRollup.

Each run reads the records ingested since the run before last (ids above the marks kept in UsageRollupMark: the
last run's ids are read a second time, for ingest transactions that committed out of id order), finds the
(workspace, hour) pairs they touch and recomputes those whole hours from the raw records, so a late record (its hour
rolled up before it arrived) is folded in and running again changes nothing. Dashboards and
/api/analytics read the rollups only.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from django.db import transaction
from django.db.models import Case, Count, FloatField, Max, Q, Sum, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncHour

from apps.analytics.models import UsageRecord, UsageRollup, UsageRollupMark, UsageStatus
from apps.routing.prompt_analysis import TASKS

HOUR = datetime.timedelta(hours=1)
# (workspace, hour) pairs recomputed per aggregate query: bounds the query's size and each transaction's length.
PAIRS_PER_BATCH = 500
MARK_NAME = "usage"
UNKNOWN_TASK = "unknown"
# The UsageRollup column of each task of the mix.
TASK_COLUMNS = {task: f"task_{task}" for task in (*TASKS, UNKNOWN_TASK)}


def task_mix_sums() -> dict:
    """Aggregates of a group of UsageRecords, named as the UsageRollup task columns: per task, the records' P(task |
    prompt) summed where the router analysed the prompt (`routing["task_scores"]`), plus 1 per other record naming
    that task (`routing["task"]`); records with neither count 1 for unknown. (A CASE whose condition is NULL, a
    record without the key, falls through to the next branch, as a missing key should.)"""
    analysed = Q(routing__task_scores__has_any_keys=list(TASKS))
    sums = {}
    for task in TASKS:
        score = Coalesce(Sum(Cast(KeyTextTransform(task, "routing__task_scores"), FloatField())), 0.0)
        named = Sum(
            Case(When(analysed, then=Value(0)), When(routing__task=task, then=Value(1)), default=Value(0)),
            output_field=FloatField(),
        )
        sums[TASK_COLUMNS[task]] = score + Coalesce(named, 0.0)
    unknown = Case(When(analysed, then=Value(0)), When(routing__task__in=list(TASKS), then=Value(0)), default=Value(1))
    sums[TASK_COLUMNS[UNKNOWN_TASK]] = Coalesce(Sum(unknown, output_field=FloatField()), 0.0)
    return sums


@dataclass(frozen=True)
class RollupRun:
    hours: int  # (workspace, hour) pairs recomputed
    rows: int  # UsageRollup rows written
    last_record_id: int  # the high-water mark after the run


def usage_rollup_build(*, since: datetime.datetime | None = None, until: datetime.datetime | None = None) -> RollupRun:
    """Recompute the rollups of the hours touched by records ingested since the last run (no arguments), or of every
    hour with raw records between `since` and `until` (a rebuild; the mark is left alone).

    Hours without raw records are never touched, so rollups outlive the records the retention job deletes."""
    if since is not None or until is not None:
        records = UsageRecord.objects.all()
        if since is not None:
            records = records.filter(created_at__gte=_hour_floor(since))
        if until is not None:
            records = records.filter(created_at__lt=until)
        pairs = _touched_hours(records)
        return RollupRun(hours=len(pairs), rows=_rebuild(pairs), last_record_id=_mark().last_record_id)

    with transaction.atomic():
        mark = UsageRollupMark.objects.select_for_update().get(pk=_mark().pk)  # one run at a time
        top = max(UsageRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0, mark.last_record_id)
        # Ingest transactions run side by side, so ids can commit out of order: a record whose id is below the mark
        # may appear just after a run. Reading the previous run's ids once more (a run later) folds those in.
        since_id = mark.previous_record_id
        if top <= since_id:
            return RollupRun(hours=0, rows=0, last_record_id=top)
        pairs = _touched_hours(UsageRecord.objects.filter(id__gt=since_id, id__lte=top))
        rows = _rebuild(pairs)
        mark.previous_record_id, mark.last_record_id = mark.last_record_id, top
        mark.save(update_fields=["previous_record_id", "last_record_id", "updated_at"])
    return RollupRun(hours=len(pairs), rows=rows, last_record_id=top)


def _mark() -> UsageRollupMark:
    mark, _ = UsageRollupMark.objects.get_or_create(name=MARK_NAME)
    return mark


def _hour_floor(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def _touched_hours(records) -> list[tuple[int, datetime.datetime]]:
    """The distinct (workspace id, UTC hour) pairs of these records, in order."""
    pairs = (
        records.order_by()
        .annotate(bucket=TruncHour("created_at", tzinfo=datetime.UTC))
        .values_list("workspace_id", "bucket")
        .distinct()
    )
    return sorted((workspace_id, _hour_floor(hour)) for workspace_id, hour in pairs)


def _rebuild(pairs: list[tuple[int, datetime.datetime]]) -> int:
    written = 0
    iterator = iter(pairs)
    while batch := list(islice(iterator, PAIRS_PER_BATCH)):
        written += _rebuild_batch(batch)
    return written


def _rebuild_batch(pairs: list[tuple[int, datetime.datetime]]) -> int:
    """Replace the rollups of these whole hours with one aggregate query over their raw records."""
    spans = workspace_hour_spans(pairs)
    records_in = Q()
    rollups_in = Q()
    for workspace_id, start, end in spans:
        records_in |= Q(workspace_id=workspace_id, created_at__gte=start, created_at__lt=end)
        rollups_in |= Q(workspace_id=workspace_id, hour__gte=start, hour__lt=end)
    groups = (
        UsageRecord.objects.filter(records_in)
        .order_by()
        .annotate(bucket=TruncHour("created_at", tzinfo=datetime.UTC))
        .values("workspace_id", "bucket", "agent_id", "api_key_id", "model_name", "provider_slug", "is_byok")
        .annotate(
            n_requests=Count("id"),
            n_errors=Count("id", filter=Q(status=UsageStatus.ERROR)),
            n_prompt=Sum("prompt_tokens"),
            n_completion=Sum("completion_tokens"),
            n_cached=Sum("cached_tokens"),
            n_reasoning=Sum("reasoning_tokens"),
            cost=Coalesce(Sum("cost_usd"), 0, output_field=UsageRecord._meta.get_field("cost_usd")),
            latency_sum=Coalesce(Sum("latency_ms"), 0),
            latency_samples=Count("latency_ms"),
            n_cache_write=Sum("cache_write_tokens"),
            largest_prompt=Max("prompt_tokens"),
            largest_completion=Max("completion_tokens"),
            **task_mix_sums(),
        )
    )
    rows = [
        UsageRollup(
            hour=_hour_floor(group["bucket"]),
            workspace_id=group["workspace_id"],
            agent_id=group["agent_id"],
            api_key_id=group["api_key_id"],
            model_name=group["model_name"],
            provider_slug=group["provider_slug"],
            is_byok=group["is_byok"],
            requests=group["n_requests"],
            errors=group["n_errors"],
            prompt_tokens=group["n_prompt"] or 0,
            completion_tokens=group["n_completion"] or 0,
            cached_tokens=group["n_cached"] or 0,
            reasoning_tokens=group["n_reasoning"] or 0,
            cost_usd=group["cost"],
            latency_ms_sum=group["latency_sum"],
            latency_samples=group["latency_samples"],
            cache_write_tokens=group["n_cache_write"] or 0,
            largest_prompt_tokens=group["largest_prompt"] or 0,
            largest_completion_tokens=group["largest_completion"] or 0,
            **{column: group[column] for column in TASK_COLUMNS.values()},
        )
        for group in groups
    ]
    with transaction.atomic():
        UsageRollup.objects.filter(rollups_in).delete()
        UsageRollup.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def workspace_hour_spans(
    pairs: Iterable[tuple[int, datetime.datetime]],
) -> list[tuple[int, datetime.datetime, datetime.datetime]]:
    """Consecutive hours of a workspace merged into [start, end) spans: a backfill of months is a handful of ranges,
    not thousands of OR-ed conditions."""
    by_workspace: dict[int, list[datetime.datetime]] = defaultdict(list)
    for workspace_id, hour in pairs:
        by_workspace[workspace_id].append(hour)
    spans = []
    for workspace_id, hours in by_workspace.items():
        start = end = None
        for hour in sorted(hours):
            if end is not None and hour == end:
                end = hour + HOUR
                continue
            if start is not None:
                spans.append((workspace_id, start, end))
            start, end = hour, hour + HOUR
        spans.append((workspace_id, start, end))
    return spans
