from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.routing.benchmarking import (
    MAX_CONCURRENCY,
    benchmark_installed_model_ids,
    benchmark_run,
    benchmark_summary,
)
from apps.routing.models import BenchmarkStatus


def _names(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


class Command(BaseCommand):
    help = (
        "Run the standard benchmark prompts on models with the platform's keys, record latency, cost and quality "
        "per prompt, and write each model's mean quality per task to the quality table the router reads."
    )

    def add_arguments(self, parser):
        parser.add_argument("--models", help="Comma-separated model ids (or aliases)")
        parser.add_argument(
            "--installed-in", metavar="WORKSPACE_SLUG", help="The enabled chat models installed in this workspace"
        )
        parser.add_argument("--tasks", help="Comma-separated tasks (default: every task of the prompt set)")
        parser.add_argument("--prompt-set", default="standard")
        parser.add_argument("--no-write-scores", action="store_true", help="Record the run, leave the table as is")
        parser.add_argument("--concurrency", type=int, default=4, help=f"Calls in flight (1–{MAX_CONCURRENCY})")

    def handle(self, *args, models, installed_in, tasks, prompt_set, no_write_scores, concurrency, **options):
        if bool(models) == bool(installed_in):
            raise CommandError("Give --models or --installed-in (one of them).")
        try:
            model_ids = _names(models) or benchmark_installed_model_ids(workspace_slug=installed_in)
            if not model_ids:
                raise CommandError(f"Workspace {installed_in!r} has no enabled chat model installed.")
            run = benchmark_run(
                models=model_ids,
                tasks=_names(tasks),
                prompt_set=prompt_set,
                write_scores=not no_write_scores,
                concurrency=concurrency,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self._table(run)
        if run.status == BenchmarkStatus.FAILED:
            raise CommandError(f"Benchmark run {run.pk} failed: {run.error}")
        written = "not written (--no-write-scores)" if no_write_scores else "written to the quality table"
        self.stdout.write(self.style.SUCCESS(f"Benchmark run {run.pk} finished; task scores {written}."))

    def _table(self, run) -> None:
        rows = benchmark_summary(run=run)
        if not rows:
            return
        width = max(len("model"), *(len(row.model_id) for row in rows))

        def line(*cells: str) -> str:
            model, task, quality, graded, latency, cost = cells
            return f"{model:<{width}}  {task:<14}  {quality:>7}  {graded:>6}  {latency:>7}  {cost:>12}"

        self.stdout.write(line("model", "task", "quality", "graded", "p50 ms", "cost $"))
        for row in rows:
            self.stdout.write(
                line(
                    row.model_id,
                    row.task,
                    "—" if row.quality is None else f"{row.quality:.3f}",
                    f"{row.graded}/{row.prompts}",
                    "—" if row.p50_latency_ms is None else str(row.p50_latency_ms),
                    "unknown" if row.cost_usd is None else f"{row.cost_usd:.6f}",
                )
            )
