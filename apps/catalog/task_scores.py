"""The per-task quality table the router reads: one way in for every source (benchmark runs, imported data sets,
staff edits), and one way out, so production and the offline evaluation see the same figures."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.core.errors import ApplicationError

from .models import Model, TaskScore, TaskScoreSource, TaskType

# When one model has a score for a task from several sources, the router trusts them in this order.
SOURCE_PRECEDENCE = (TaskScoreSource.MANUAL, TaskScoreSource.BENCHMARK, TaskScoreSource.IMPORT)
SCORE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class TaskScoreRow:
    model_id: str  # canonical catalog id
    task: str
    score: float | Decimal
    sample_size: int = 0


def _score(value) -> Decimal:
    try:
        score = Decimal(str(value)).quantize(SCORE_PLACES)
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"Task score {value!r} is not a number.") from None
    if not Decimal(0) <= score <= Decimal(1):
        raise ApplicationError(f"Task score {value} is outside [0, 1].")
    return score


@transaction.atomic
def task_scores_import(*, rows: Iterable[TaskScoreRow], source: str) -> int:
    """Insert or replace the (model, task, source) scores given; all or nothing. Returns the rows written."""
    if source not in TaskScoreSource.values:
        raise ApplicationError(f"Unknown task score source {source!r}.")
    rows = list(rows)
    model_pks = dict(Model.objects.filter(model_id__in={r.model_id for r in rows}).values_list("model_id", "pk"))
    objects = {}
    for row in rows:
        if row.model_id not in model_pks:
            raise ApplicationError(f"Unknown model {row.model_id!r}.")
        if row.task not in TaskType.values:
            raise ApplicationError(f"Unknown task {row.task!r}; tasks are {', '.join(TaskType.values)}.")
        if row.sample_size < 0:
            raise ApplicationError("A sample size cannot be negative.")
        key = (model_pks[row.model_id], row.task)
        objects[key] = TaskScore(
            model_id=key[0], task=row.task, score=_score(row.score), source=source, sample_size=row.sample_size
        )
    TaskScore.objects.bulk_create(
        objects.values(),
        update_conflicts=True,
        unique_fields=["model", "task", "source"],
        update_fields=["score", "sample_size", "updated_at"],
    )
    return len(objects)


def task_quality_map(*, model_ids: Iterable[str]) -> dict[str, dict[str, float]]:
    """model id -> {task: score}, each task's score from the most trusted source that has one."""
    rank = {source: position for position, source in enumerate(SOURCE_PRECEDENCE)}
    best: dict[tuple[str, str], tuple[int, float]] = {}
    rows = TaskScore.objects.filter(model__model_id__in=list(model_ids)).values_list(
        "model__model_id", "task", "source", "score"
    )
    for model_id, task, source, score in rows:
        key = (model_id, task)
        if key not in best or rank[source] < best[key][0]:
            best[key] = (rank[source], float(score))
    quality: dict[str, dict[str, float]] = {}
    for (model_id, task), (_, score) in best.items():
        quality.setdefault(model_id, {})[task] = score
    return quality
