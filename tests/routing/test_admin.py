import pytest

from apps.routing.models import BenchmarkResult, BenchmarkRun
from tests.core.admin_checks import admin_url, assert_access_is_restricted, assert_admin_pages_work
from tests.routing.factories import BenchmarkResultFactory

pytestmark = pytest.mark.django_db


def test_benchmark_run_pages_show_their_results(admin_client):
    result = BenchmarkResultFactory(prompt_key="fizzbuzz-py", run__prompt_set="nightly-suite")
    result.run.models_tested.add(result.model)
    assert_admin_pages_work(admin_client, result.run, contains="nightly-suite")
    change_page = admin_client.get(admin_url(BenchmarkRun, "change", result.run.pk)).content.decode()
    assert "fizzbuzz-py" in change_page
    assert 'name="_save"' not in change_page


def test_benchmark_result_pages_load(admin_client):
    assert_admin_pages_work(admin_client, BenchmarkResultFactory(prompt_key="haiku-1"), contains="haiku-1")


@pytest.mark.parametrize("model", [BenchmarkRun, BenchmarkResult])
def test_access_is_restricted(model):
    assert_access_is_restricted(model)


@pytest.mark.parametrize("model", [BenchmarkRun, BenchmarkResult])
def test_benchmarks_are_read_only(admin_client, model):
    result = BenchmarkResultFactory()
    obj = result.run if model is BenchmarkRun else result
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
