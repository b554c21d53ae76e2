"""The hourly usage rollup: its sums, idempotence, late records, rebuilds, the beat task and `rollup_usage`."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.analytics.models import UsageRecord, UsageRollup, UsageRollupMark
from apps.analytics.rollups import usage_rollup_build
from apps.analytics.tasks import usage_rollup_task
from apps.routing.prompt_analysis import TASKS
from tests.analytics.factories import UsageRecordFactory
from tests.catalog.factories import ModelFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
T0 = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime.datetime:
    return T0 + datetime.timedelta(hours=hour, minutes=minute)


def rollup_rows() -> list[tuple]:
    return sorted(
        UsageRollup.objects.values_list(
            "workspace_id",
            "hour",
            "agent_id",
            "api_key_id",
            "model_name",
            "requests",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "latency_ms_sum",
            "latency_samples",
        ),
        key=lambda row: repr(row[:5]),  # Decimals print their stored digits: sort on the rest
    )


@pytest.fixture
def workspace():
    return WorkspaceFactory()


@pytest.fixture
def model():
    return ModelFactory()


def test_sums_records_per_hour_workspace_agent_key_and_model(workspace, model):
    agent = AgentFactory(workspace=workspace)
    key = ApiKeyFactory(workspace=workspace)
    other_model = ModelFactory()
    UsageRecordFactory(workspace=workspace, model=model, agent=agent, api_key=key, created_at=at(0, 5))
    UsageRecordFactory(
        workspace=workspace,
        model=model,
        agent=agent,
        api_key=key,
        created_at=at(0, 59),
        status="error",
        prompt_tokens=10,
        completion_tokens=0,
        cost_usd=None,
        latency_ms=None,
    )
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 30), cost_usd=Decimal("0.5"))
    UsageRecordFactory(workspace=workspace, model=other_model, created_at=at(1, 0), latency_ms=100)

    run = usage_rollup_build()

    assert (run.hours, run.rows) == (2, 3)
    assert run.last_record_id == UsageRecord.objects.order_by("-id").first().pk
    assert rollup_rows() == sorted(
        [
            (workspace.pk, at(0), agent.pk, key.pk, model.model_id, 2, 1, 130, 40, Decimal("0.000042"), 350, 1),
            (workspace.pk, at(0), None, None, model.model_id, 1, 0, 120, 40, Decimal("0.5"), 350, 1),
            (workspace.pk, at(1), None, None, other_model.model_id, 1, 0, 120, 40, Decimal("0.000042"), 100, 1),
        ],
        key=lambda row: repr(row[:5]),  # Decimals print their stored digits: sort on the rest
    )
    rollup = UsageRollup.objects.get(agent=agent)
    assert (rollup.provider_slug, rollup.is_byok) == (model.provider.slug, False)


def test_running_again_changes_nothing(workspace, model):
    UsageRecordFactory.create_batch(3, workspace=workspace, model=model, created_at=at(0, 10))
    usage_rollup_build()
    first = rollup_rows()

    again = usage_rollup_build()  # reads the last run's records once more, to the same figures
    assert (again.hours, again.rows) == (1, 1)
    assert rollup_rows() == first
    ids = set(UsageRollup.objects.values_list("pk", flat=True))

    third = usage_rollup_build()
    assert (third.hours, third.rows) == (0, 0)
    assert rollup_rows() == first
    assert set(UsageRollup.objects.values_list("pk", flat=True)) == ids


def test_a_record_committed_after_a_higher_id_is_folded_in_by_the_next_run(workspace, model):
    """Two ingests side by side: the one with the higher ids commits first and a rollup runs in between."""
    UsageRecordFactory(id=1000, workspace=workspace, model=model, created_at=at(0, 10))
    assert usage_rollup_build().last_record_id == 1000
    UsageRecordFactory(id=500, workspace=workspace, model=model, created_at=at(2, 10))

    run = usage_rollup_build()

    assert run.last_record_id == 1000
    assert sorted(UsageRollup.objects.values_list("hour", "requests")) == [(at(0), 1), (at(2), 1)]


def test_a_late_record_is_folded_into_its_hour_already_rolled_up(workspace, model):
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 10))
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(5, 10))
    usage_rollup_build()
    usage_rollup_build()

    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 40), prompt_tokens=1000)
    run = usage_rollup_build()

    assert run.hours == 1  # only the late record's hour is recomputed
    hour0 = UsageRollup.objects.get(hour=at(0))
    assert (hour0.requests, hour0.prompt_tokens, hour0.cost_usd) == (2, 1120, Decimal("0.000084"))
    assert UsageRollup.objects.get(hour=at(5)).requests == 1
    assert UsageRollup.objects.count() == 2


def test_workspaces_are_rolled_up_apart(model):
    mine, theirs = WorkspaceFactory(), WorkspaceFactory()
    UsageRecordFactory(workspace=mine, model=model, created_at=at(0))
    UsageRecordFactory.create_batch(2, workspace=theirs, model=model, created_at=at(0))
    usage_rollup_build()
    UsageRecordFactory(workspace=mine, model=model, created_at=at(0, 1))

    usage_rollup_build()

    assert UsageRollup.objects.get(workspace=mine).requests == 2
    assert UsageRollup.objects.get(workspace=theirs).requests == 2


def test_rollups_outlive_their_raw_records_and_a_rebuild_leaves_them(workspace, model):
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0))
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(3))
    usage_rollup_build()
    UsageRecord.objects.filter(created_at__lt=at(1)).delete()  # as the retention job would

    run = usage_rollup_build(since=at(-24), until=at(24))

    assert run.hours == 1
    assert sorted(UsageRollup.objects.values_list("hour", "requests")) == [(at(0), 1), (at(3), 1)]


def test_a_rebuild_recomputes_hours_in_its_range_only(workspace, model):
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0))
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(4))
    usage_rollup_build()
    UsageRollup.objects.update(requests=99)  # as if a figure had gone wrong
    mark = UsageRollupMark.objects.get().last_record_id

    run = usage_rollup_build(since=at(3, 30), until=at(5))

    assert (run.hours, run.last_record_id) == (1, mark)
    assert sorted(UsageRollup.objects.values_list("hour", "requests")) == [(at(0), 99), (at(4), 1)]


def test_spans_of_many_hours_and_workspaces_in_small_batches(monkeypatch, model):
    monkeypatch.setattr("apps.analytics.rollups.PAIRS_PER_BATCH", 3)
    first, second = WorkspaceFactory(), WorkspaceFactory()
    for hour in (0, 1, 2, 3, 7, 8, 30):
        UsageRecordFactory(workspace=first, model=model, created_at=at(hour, 15))
        UsageRecordFactory(workspace=second, model=model, created_at=at(hour, 45))

    run = usage_rollup_build()

    assert (run.hours, run.rows) == (14, 14)
    for workspace in (first, second):
        hours = sorted(UsageRollup.objects.filter(workspace=workspace).values_list("hour", flat=True))
        assert hours == [at(h) for h in (0, 1, 2, 3, 7, 8, 30)]


def test_the_beat_task_and_its_schedule(workspace, model):
    UsageRecordFactory.create_batch(2, workspace=workspace, model=model, created_at=at(0))

    assert usage_rollup_task() == 1
    assert UsageRollup.objects.get().requests == 2
    entry = settings.CELERY_BEAT_SCHEDULE["usage-rollup"]
    assert entry["task"] == "apps.analytics.tasks.usage_rollup_task"
    assert entry["schedule"] == float(settings.USAGE_ROLLUP_INTERVAL_SECONDS)


def test_the_management_command(workspace, model):
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0))
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(2))
    out = StringIO()

    call_command("rollup_usage", stdout=out)
    assert "Recomputed 2 workspace-hours into 2 rollup rows" in out.getvalue()

    UsageRollup.objects.all().delete()
    out = StringIO()
    call_command("rollup_usage", "--since", "2026-11-02T10:00:00Z", "--until", "2026-11-02T12:00", stdout=out)
    assert "Recomputed 1 workspace-hours into 1 rollup rows" in out.getvalue()
    assert list(UsageRollup.objects.values_list("hour", flat=True)) == [at(2)]


def test_the_management_command_refuses_bad_ranges():
    with pytest.raises(CommandError, match="before"):
        call_command("rollup_usage", "--since", "2026-11-02T10:00Z", "--until", "2026-11-02T09:00Z")
    with pytest.raises(CommandError, match="not an ISO"):
        call_command("rollup_usage", "--since", "yesterday")
    assert not UsageRollup.objects.exists()


def test_every_task_of_the_router_has_a_rollup_column():
    columns = {f.name for f in UsageRollup._meta.get_fields()}
    assert {f"task_{task}" for task in (*TASKS, "unknown")} <= columns


def test_keeps_the_task_mix_largest_request_and_cache_writes_for_the_recommendations(workspace, model):
    """Analysed prompts add their P(task | prompt), the others 1 to the task they name, else to unknown; a late
    record's hour is recomputed to the same figures as if it had come in time."""
    analysed = {"task": "code", "task_scores": {"code": 0.75, "chat": 0.25}}
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 5), routing=analysed, cache_write_tokens=7)
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 6), routing={"task": "math"})
    UsageRecordFactory(
        workspace=workspace, model=model, created_at=at(0, 7), routing={"task": "code", "task_scores": None}
    )
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 8), routing={"task": "no-such-task"})
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 9), prompt_tokens=900, completion_tokens=5)
    usage_rollup_build()

    row = UsageRollup.objects.get()
    mix = {task: getattr(row, f"task_{task}") for task in (*TASKS, "unknown")}
    assert {task: share for task, share in mix.items() if share} == {
        "code": 1.75,
        "chat": 0.25,
        "math": 1,
        "unknown": 2,
    }
    assert sum(mix.values()) == row.requests == 5
    assert (row.largest_prompt_tokens, row.largest_completion_tokens, row.cache_write_tokens) == (900, 40, 7)

    UsageRecordFactory(workspace=workspace, model=model, created_at=at(0, 50), completion_tokens=3000, routing=analysed)
    usage_rollup_build()
    row = UsageRollup.objects.get()
    assert (row.task_code, row.task_chat, row.task_unknown) == (2.5, 0.5, 2)
    assert (row.largest_prompt_tokens, row.largest_completion_tokens) == (900, 3000)
