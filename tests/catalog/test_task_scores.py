from decimal import Decimal

import pytest

from apps.catalog.models import TaskScore
from apps.catalog.task_scores import TaskScoreRow, task_quality_map, task_scores_import
from apps.core.errors import ApplicationError

from .factories import ModelFactory

pytestmark = pytest.mark.django_db


def test_import_writes_then_replaces_one_row_per_model_task_source():
    model = ModelFactory(model_id="acme/small")
    assert task_scores_import(rows=[TaskScoreRow("acme/small", "code", 0.61234, 40)], source="import") == 1
    task_scores_import(rows=[TaskScoreRow("acme/small", "code", 0.7, 50)], source="import")
    row = TaskScore.objects.get(model=model, task="code")
    assert (row.score, row.sample_size, row.source) == (Decimal("0.7000"), 50, "import")


def test_quality_map_prefers_manual_then_benchmark_then_import():
    ModelFactory(model_id="acme/small")
    task_scores_import(
        rows=[TaskScoreRow("acme/small", "code", 0.2), TaskScoreRow("acme/small", "math", 0.3)], source="import"
    )
    task_scores_import(rows=[TaskScoreRow("acme/small", "code", 0.5)], source="benchmark")
    assert task_quality_map(model_ids=["acme/small"]) == {"acme/small": {"code": 0.5, "math": 0.3}}
    task_scores_import(rows=[TaskScoreRow("acme/small", "code", 0.9)], source="manual")
    assert task_quality_map(model_ids=["acme/small", "nobody/else"]) == {"acme/small": {"code": 0.9, "math": 0.3}}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (TaskScoreRow("acme/none", "code", 0.5), "Unknown model"),
        (TaskScoreRow("acme/small", "juggling", 0.5), "Unknown task"),
        (TaskScoreRow("acme/small", "code", 1.5), "is outside"),
        (TaskScoreRow("acme/small", "code", "high"), "not a number"),
    ],
)
def test_bad_rows_write_nothing(row, message):
    ModelFactory(model_id="acme/small")
    good = TaskScoreRow("acme/small", "math", 0.5)
    with pytest.raises(ApplicationError, match=message):
        task_scores_import(rows=[good, row], source="import")
    assert not TaskScore.objects.exists()
