"""The minute rollup of the health tracker into ModelHealth: the beat task and the `rollup_health` command."""

import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.analytics.models import CircuitState, ModelHealth
from apps.routing.health import health_tracker, health_tracker_reset
from apps.routing.tasks import model_health_rollup_task
from config.celery import app as celery_app
from tests.analytics.factories import ModelHealthFactory
from tests.catalog.factories import ModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_tracker():
    """The process's tracker, empty: in-process figures would otherwise outlive the test (Redis is emptied by the
    cache fixture)."""
    health_tracker_reset()
    yield health_tracker()
    health_tracker_reset()


def record(model, n: int = 1, **outcome) -> None:
    for _ in range(n):
        health_tracker().record_sync(model.model_id, model.provider.slug, **outcome)


def test_the_rollup_writes_every_models_figures_and_zeroes_the_silent_ones():
    acme = ProviderFactory(slug="acme")
    busy, broken = (
        ModelFactory(provider=acme, upstream_name="busy"),
        ModelFactory(provider=acme, upstream_name="broken"),
    )
    silent = ModelHealthFactory(
        model__upstream_name="silent", requests=100, circuit_state=CircuitState.OPEN, latency_p50_ms=900
    )
    for latency in range(100, 1000, 100):
        record(busy, ok=True, latency_ms=latency, ttft_ms=latency // 10)
    record(busy, ok=False, error_kind="bad_request")
    record(busy, ok=False, error_kind="timeout")
    record(broken, 5, ok=False, error_kind="overloaded")
    health_tracker().record_sync("gone/from-the-catalog", "gone", ok=True)

    assert model_health_rollup_task.delay().get() == 2

    busy_health = ModelHealth.objects.get(model=busy)
    assert (busy_health.requests, busy_health.successes, busy_health.window_seconds) == (11, 9, 300)
    assert busy_health.errors_by_kind == {"bad_request": 1, "timeout": 1}
    assert busy_health.error_rate == Decimal("0.0909")  # provider failures only: 1 of 11
    assert (busy_health.latency_p50_ms, busy_health.latency_p95_ms, busy_health.ttft_p50_ms) == (500, 900, 50)
    assert (busy_health.circuit_state, busy_health.circuit_opened_at) == (CircuitState.CLOSED, None)

    broken_health = ModelHealth.objects.get(model=broken)
    assert (broken_health.requests, broken_health.error_rate) == (5, Decimal("1.0000"))
    assert broken_health.circuit_state == CircuitState.OPEN
    assert broken_health.circuit_opened_at is not None

    silent.refresh_from_db()
    assert (silent.requests, silent.successes, silent.errors_by_kind, silent.error_rate) == (0, 0, {}, 0)
    assert (silent.latency_p50_ms, silent.circuit_state, silent.circuit_opened_at) == (None, CircuitState.CLOSED, None)
    assert ModelHealth.objects.count() == 3


def test_a_rerun_updates_the_rows_in_place():
    model = ModelFactory()
    record(model, ok=True, latency_ms=100)
    model_health_rollup_task()
    first = ModelHealth.objects.get(model=model)
    record(model, ok=False, error_kind="server_error")
    model_health_rollup_task()
    second = ModelHealth.objects.get(model=model)
    assert second.pk == first.pk
    assert (second.requests, second.error_rate) == (2, Decimal("0.5000"))
    assert second.updated_at >= first.updated_at


def test_the_command_rolls_up_and_says_so():
    record(ModelFactory(), ok=True)
    out, err = io.StringIO(), io.StringIO()
    call_command("rollup_health", stdout=out, stderr=err)
    assert out.getvalue().strip() == "Rolled up the health of 1 models."
    assert ModelHealth.objects.count() == 1
    assert ("No REDIS_URL" in err.getvalue()) is not bool(settings.REDIS_URL)


def test_beat_runs_it_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["health-rollup"]
    assert entry["schedule"] == 60.0
    assert entry["task"] == model_health_rollup_task.name
    assert entry["task"] in celery_app.tasks
