"""Routing's Celery tasks; each is also a management command, so the embedded mode can run it by hand."""

from celery import shared_task

from .benchmarking import benchmark_run

BENCHMARK_TIME_LIMIT = 60 * 60


@shared_task(time_limit=BENCHMARK_TIME_LIMIT, soft_time_limit=BENCHMARK_TIME_LIMIT - 60)
def benchmark_models_task(model_ids: list[str], tasks: list[str] | None = None) -> int:
    """Benchmark the models (as `manage.py benchmark_models` does) and write their task scores; returns the run id.

    Not retried: a rerun pays for every call again, and a run that fails records why on itself."""
    return benchmark_run(models=model_ids, tasks=tasks).pk
