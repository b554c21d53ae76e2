from decimal import Decimal

import factory

from apps.routing.models import BenchmarkResult, BenchmarkRun
from tests.catalog.factories import ModelFactory


class BenchmarkRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenchmarkRun
        skip_postgeneration_save = True

    @factory.post_generation
    def models_tested(self, create, extracted, **kwargs):
        if create and extracted:
            self.models_tested.set(extracted)


class BenchmarkResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenchmarkResult

    run = factory.SubFactory(BenchmarkRunFactory)
    model = factory.SubFactory(ModelFactory)
    task = "code"
    prompt_key = factory.Sequence(lambda n: f"prompt-{n}")
    latency_ms = 800
    cost_usd = Decimal("0.0001")
    quality = Decimal("0.75")
