"""The embedded mode's beat (apps/core/embedded_beat.py): without Redis the server runs the beat schedule itself,
so `make run` gets its usage rollups (the dashboards and "most used"), budget alerts and retention too."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics.models import UsageRollup
from apps.core.embedded_beat import beat_entries, run_due
from apps.routing.gateway.asgi import Application
from tests.analytics.factories import UsageRecordFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _run_due(last_run: dict) -> list[str]:
    return asyncio.run(run_due(beat_entries(), last_run))


def test_every_beat_entry_is_runnable(settings):
    assert {name for name, _, _ in beat_entries()} == set(settings.CELERY_BEAT_SCHEDULE)


def test_due_jobs_run_and_the_rest_wait(settings):
    now = timezone.now()
    record = UsageRecordFactory(cost_usd=Decimal("0.5"))
    last_run = {name: now for name in settings.CELERY_BEAT_SCHEDULE}
    assert _run_due(last_run) == []
    assert not UsageRollup.objects.exists()

    last_run["usage-rollup"] = now - timedelta(seconds=settings.USAGE_ROLLUP_INTERVAL_SECONDS + 1)
    assert _run_due(last_run) == ["usage-rollup"]
    rollup = UsageRollup.objects.get(workspace=record.workspace)
    assert (rollup.requests, rollup.cost_usd) == (1, Decimal("0.5"))
    assert last_run["usage-rollup"] >= now
    assert _run_due(last_run) == []


def test_a_failing_job_is_logged_and_the_others_still_run(settings, caplog):
    past = timezone.now() - timedelta(days=2)
    entries = [("broken", _raise, _always_due()), *_real_entries(settings, "usage-rollup")]
    UsageRecordFactory()
    ran = asyncio.run(run_due(entries, {"broken": past, "usage-rollup": past}))
    assert ran == ["broken", "usage-rollup"]
    assert "embedded beat: broken failed" in caplog.text
    assert UsageRollup.objects.exists()


def test_the_server_starts_the_beat_only_in_the_embedded_mode(settings):
    async def started(embedded: bool) -> bool:
        settings.EMBEDDED_BEAT = embedded
        app = Application(django_app=None)
        await app.ensure_flusher()
        running = app.beat is not None and not app.beat.done()
        for task in (app.flusher, app.beat):
            if task is not None:
                task.cancel()
        return running

    assert asyncio.run(started(True)) is True
    assert asyncio.run(started(False)) is False


def _raise():
    raise RuntimeError("boom")


def _always_due():
    from celery.schedules import schedule

    return schedule(run_every=timedelta(seconds=1))


def _real_entries(settings, name: str) -> list:
    from celery.schedules import maybe_schedule
    from django.utils.module_loading import import_string

    spec = settings.CELERY_BEAT_SCHEDULE[name]
    return [(name, import_string(spec["task"]), maybe_schedule(spec["schedule"]))]
