import pytest

from apps.routing.models import BenchmarkResult, BenchmarkRun
from tests.catalog.factories import ModelFactory
from tests.routing.factories import BenchmarkResultFactory, BenchmarkRunFactory

pytestmark = pytest.mark.django_db


def test_benchmark_run_factory_saves_with_models():
    model = ModelFactory()
    run = BenchmarkRunFactory(models_tested=[model])
    run.full_clean()
    assert BenchmarkRun.objects.filter(pk=run.pk).exists()
    assert list(run.models_tested.all()) == [model]


def test_benchmark_result_factory_saves_a_valid_row():
    result = BenchmarkResultFactory()
    result.full_clean()
    assert BenchmarkResult.objects.filter(pk=result.pk, run=result.run).exists()
