"""Usage records survive a crashed worker: they are in a spool file before the response ends, and any process
on the node moves orphaned spool files into the database."""

import os
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.analytics.usage import UsageSpool
from tests.catalog.factories import ModelFactory
from tests.workspaces.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def spool_record(workspace_id: int, n: int, **extra) -> dict:
    return {
        "generation_id": f"gen-test-{n}",
        "workspace_id": workspace_id,
        "model_name": "openai/gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": "0.0000045000",
        "status": "success",
        "created_at": timezone.now().isoformat(),
        **extra,
    }


def test_flush_moves_records_into_the_database_once(tmp_path):
    workspace = WorkspaceFactory()
    spool = UsageSpool(tmp_path)
    for n in range(3):
        spool.append(spool_record(workspace.pk, n))
    assert spool.pending == 3

    assert spool.flush() == 3
    assert spool.flush() == 0
    record = UsageRecord.objects.get(generation_id="gen-test-0")
    assert record.cost_usd == Decimal("0.0000045") and record.workspace == workspace
    assert list(tmp_path.iterdir()) == []


def test_reingesting_the_same_file_adds_nothing(tmp_path):
    workspace = WorkspaceFactory()
    line = UsageSpool(tmp_path)
    line.append(spool_record(workspace.pk, 1))
    line.rotate()
    copy = next(tmp_path.glob("*.ready")).read_bytes()
    assert line.ingest() == 1
    (tmp_path / "999999-1.ready").write_bytes(copy)
    assert line.ingest() == 0
    assert UsageRecord.objects.count() == 1


def test_a_record_whose_model_was_deleted_is_kept_without_it(tmp_path):
    workspace = WorkspaceFactory()
    model = ModelFactory()
    spool = UsageSpool(tmp_path)
    spool.append(spool_record(workspace.pk, 1, model_id=model.pk))
    model_pk = model.pk
    model.delete()
    assert spool.flush() == 1
    record = UsageRecord.objects.get()
    assert record.model_id is None and record.model_name == "openai/gpt-4o-mini"
    assert model_pk != record.model_id


def test_a_nul_from_a_client_or_provider_does_not_stop_its_batch(tmp_path):
    workspace = WorkspaceFactory()
    spool = UsageSpool(tmp_path)
    spool.append(spool_record(workspace.pk, 1, requested_model="a\x00b", attempts=[{"error": "bad\x00text"}]))
    spool.append(spool_record(workspace.pk, 2))
    assert spool.flush() == 2  # PostgreSQL refuses NUL in text and JSON: it is dropped, the records are kept
    record = UsageRecord.objects.get(generation_id="gen-test-1")
    assert (record.requested_model, record.attempts) == ("ab", [{"error": "badtext"}])


def test_records_of_a_killed_worker_are_ingested_by_flush_usage(tmp_path, settings):
    settings.USAGE_SPOOL_DIR = tmp_path
    workspace = WorkspaceFactory()
    records = [spool_record(workspace.pk, n) for n in range(5)]
    # A worker appends its records and dies at once (no rotate, no flush, no clean shutdown).
    script = textwrap.dedent(
        f"""
        import os, sys, django
        django.setup()
        from apps.analytics.usage import UsageSpool
        spool = UsageSpool({str(tmp_path)!r})
        for record in {records!r}:
            spool.append(record)
        os._exit(9)
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 9
    assert len(list(tmp_path.glob("*.jsonl"))) == 1

    call_command("flush_usage", stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert UsageRecord.objects.filter(workspace=workspace).count() == 5
    assert list(tmp_path.iterdir()) == []


def test_a_live_workers_open_file_is_left_alone(tmp_path):
    workspace = WorkspaceFactory()
    writer = UsageSpool(tmp_path)
    writer.append(spool_record(workspace.pk, 1))
    other = UsageSpool(tmp_path)
    # Same process here, so the file counts as ours from a previous life only when it is not the open one.
    assert writer.ingest() == 0
    assert other.ingest() == 1


def test_the_ingester_heartbeat(tmp_path):
    spool = UsageSpool(tmp_path)
    assert not spool.ingester_alive(within=5)
    spool.beat()
    assert spool.ingester_alive(within=5)
    old = time.time() - 60
    os.utime(tmp_path / "ingester.heartbeat", (old, old))
    assert not spool.ingester_alive(within=5)


def test_usage_ingester_command_beats_and_stops_on_sigterm(tmp_path):
    # It runs in its own process (its database is not this test's): what is checked here is its lifecycle; the
    # ingest it runs each cycle is UsageSpool.ingest, tested above.
    worker = UsageSpool(tmp_path)
    ingester = subprocess.Popen(
        [sys.executable, "manage.py", "usage_ingester", "--interval", "0.1"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "USAGE_SPOOL_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not worker.ingester_alive(within=5) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.ingester_alive(within=5)
    finally:
        ingester.terminate()
        ingester.wait(10)
    assert ingester.returncode == 0
