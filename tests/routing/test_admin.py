from decimal import Decimal

import pytest

from apps.routing.models import BenchmarkResult, BenchmarkRun
from tests.catalog.factories import ModelFactory
from tests.core.admin_checks import (
    admin_url,
    assert_access_is_restricted,
    assert_admin_pages_work,
    assert_changelist_queries_do_not_grow,
)
from tests.routing.factories import BenchmarkResultFactory, BenchmarkRunFactory

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


def test_benchmark_run_page_summarises_quality_latency_and_cost_per_model_and_task(admin_client):
    model = ModelFactory(model_id="acme/fast-1")
    run = BenchmarkRunFactory(models_tested=[model])
    for key, quality, latency in (("math-a", "1", 100), ("math-b", "0.5", 300), ("math-c", None, None)):
        BenchmarkResultFactory(
            run=run,
            model=model,
            task="math",
            prompt_key=key,
            quality=quality and Decimal(quality),
            latency_ms=latency,
            cost_usd=Decimal("0.0001") if quality else None,
            error="" if quality else "500 server_error: Mock fault 500",
        )

    page = admin_client.get(admin_url(BenchmarkRun, "change", run.pk)).content.decode()

    assert "<td>acme/fast-1</td><td>math</td><td>0.750</td><td>2/3</td><td>200</td><td>0.000200</td>" in page
    assert "500 server_error: Mock fault 500" in page


def test_benchmark_run_changelist_counts_models_and_links_to_the_results(admin_client):
    run = BenchmarkRunFactory(models_tested=ModelFactory.create_batch(3))
    BenchmarkResultFactory(run=run, prompt_key="math-a")
    BenchmarkResultFactory(prompt_key="other-run")

    changelist = admin_client.get(admin_url(BenchmarkRun, "changelist"))
    results_url = f"{admin_url(BenchmarkResult, 'changelist')}?run__id__exact={run.pk}"

    assert changelist.context["cl"].result_list.get(pk=run.pk).model_count == 3
    assert f'href="{results_url}"' in changelist.content.decode()
    results = admin_client.get(results_url).content.decode()
    assert "math-a" in results and "other-run" not in results


@pytest.mark.parametrize("model", [BenchmarkRun, BenchmarkResult])
def test_benchmark_changelists_cost_the_same_queries_for_more_rows(admin_client, model):
    def make_rows(count):
        for _ in range(count):
            result = BenchmarkResultFactory()
            result.run.models_tested.add(result.model)

    assert_changelist_queries_do_not_grow(admin_client, model, make_rows)
