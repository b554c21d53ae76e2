"""Usage retention: raw records past USAGE_RETENTION_DAYS go, in batches; rollups stay; 0 days keeps everything."""

import datetime
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.analytics.models import UsageRecord, UsageRollup
from apps.analytics.retention import usage_retention_purge
from apps.analytics.retention_tasks import usage_retention_purge_task
from tests.analytics.factories import UsageRecordFactory, UsageRollupFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def aged(days: float, **fields) -> UsageRecord:
    return UsageRecordFactory(created_at=NOW - datetime.timedelta(days=days), **fields)


@pytest.fixture
def records() -> dict[str, UsageRecord]:
    return {
        "ancient": aged(800),
        "just_past": aged(400.01),
        "just_inside": aged(399.99),
        "recent": aged(1),
    }


@pytest.fixture
def rollup():
    return UsageRollupFactory(hour=(NOW - datetime.timedelta(days=800)).replace(minute=0, second=0, microsecond=0))


def remaining() -> set[str]:
    return set(UsageRecord.objects.values_list("generation_id", flat=True))


def test_deletes_only_records_older_than_the_retention_period_and_keeps_rollups(records, rollup, settings):
    settings.USAGE_RETENTION_DAYS = 400

    deleted = usage_retention_purge(now=NOW)

    assert deleted == 2
    assert remaining() == {records["just_inside"].generation_id, records["recent"].generation_id}
    assert list(UsageRollup.objects.all()) == [rollup]
    assert usage_retention_purge(now=NOW) == 0  # running again changes nothing


def test_zero_days_keeps_everything(records, settings):
    settings.USAGE_RETENTION_DAYS = 0

    assert usage_retention_purge(now=NOW) == 0
    assert len(remaining()) == 4


def test_deletes_in_batches_of_ids(settings):
    settings.USAGE_RETENTION_DAYS = 30
    for _ in range(7):
        aged(60)
    keep = aged(2)

    with CaptureQueriesContext(connection) as queries:
        deleted = usage_retention_purge(now=NOW, batch_size=3)

    assert deleted == 7
    assert remaining() == {keep.generation_id}
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1 ids
    assert all("usage_rollup" not in sql.lower() for sql in deletes)


def test_the_beat_task_runs_the_purge_with_the_setting(records, settings):
    settings.USAGE_RETENTION_DAYS = 500

    assert usage_retention_purge_task.apply().get() == 1
    assert records["ancient"].generation_id not in remaining()


def test_the_beat_schedule_names_a_task_a_fresh_worker_registers(settings):
    """In a new process (as a Celery worker starts), without this test module's imports."""
    task = settings.CELERY_BEAT_SCHEDULE["usage-retention-purge"]["task"]
    script = (
        "import django; django.setup(); from config.celery import app; app.loader.import_default_modules(); "
        f"print({task!r} in app.tasks)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "True", result.stderr


class TestCommand:
    def test_purges_with_the_setting_and_says_how_many(self, records, settings):
        settings.USAGE_RETENTION_DAYS = 400
        out = StringIO()

        call_command("purge_usage", stdout=out)

        assert out.getvalue().startswith("Deleted 2 usage records created before ")
        assert len(remaining()) == 2

    def test_days_and_batch_size_options(self, records):
        out = StringIO()

        call_command("purge_usage", "--days", "2", "--batch-size", "1", stdout=out)

        assert "Deleted 3 usage records" in out.getvalue()
        assert remaining() == {records["recent"].generation_id}

    def test_zero_days_keeps_everything(self, records):
        out = StringIO()

        call_command("purge_usage", "--days", "0", stdout=out)

        assert "retention is off" in out.getvalue()
        assert len(remaining()) == 4

    @pytest.mark.parametrize("args", [["--days", "-1"], ["--batch-size", "0"]])
    def test_bad_options_are_refused(self, records, args):
        with pytest.raises(CommandError):
            call_command("purge_usage", *args)
        assert len(remaining()) == 4
