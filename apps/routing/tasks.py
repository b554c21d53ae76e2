"""Routing's Celery tasks; each is also a management command, so the embedded mode can run it by hand."""

from celery import shared_task
from django.conf import settings

from apps.analytics.services import model_health_rollup

from .benchmarking import benchmark_run
from .health import health_tracker

BENCHMARK_TIME_LIMIT = 60 * 60


@shared_task(time_limit=BENCHMARK_TIME_LIMIT, soft_time_limit=BENCHMARK_TIME_LIMIT - 60)
def benchmark_models_task(model_ids: list[str], tasks: list[str] | None = None) -> int:
    """Benchmark the models (as `manage.py benchmark_models` does) and write their task scores; returns the run id.

    Not retried: a rerun pays for every call again, and a run that fails records why on itself."""
    return benchmark_run(models=model_ids, tasks=tasks).pk


@shared_task(time_limit=55, soft_time_limit=50)
def model_health_rollup_task() -> int:
    """Every minute (beat): the health tracker's rolling-window figures and circuits into ModelHealth; returns how many
    models had figures. Not retried: the next run is a minute away and writes fresher figures."""
    return model_health_rollup(snapshots=health_tracker().snapshot_all(), window_seconds=settings.HEALTH_WINDOW_SECONDS)
