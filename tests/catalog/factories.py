from decimal import Decimal

import factory

from apps.catalog.models import AdapterKind, Model, ModelAlias, PriceChange, Provider, TaskScore


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    adapter_kind = AdapterKind.OPENAI
    base_url = "http://127.0.0.1:9100/v1"
    enabled = True


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Model

    provider = factory.SubFactory(ProviderFactory)
    upstream_name = factory.Sequence(lambda n: f"model-{n}")
    model_id = factory.LazyAttribute(lambda o: f"{o.provider.slug}/{o.upstream_name}")
    display_name = factory.LazyAttribute(lambda o: o.upstream_name)
    context_window = 128_000
    max_output_tokens = 16_384
    input_price = Decimal("0.00000015")
    output_price = Decimal("0.0000006")
    supports_tools = True
    supports_json = True


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias

    alias = factory.Sequence(lambda n: f"alias-{n}")
    model = factory.SubFactory(ModelFactory)


class PriceChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceChange

    model = factory.SubFactory(ModelFactory)
    source = "litellm"
    old_input_price = Decimal("0.000001")
    new_input_price = Decimal("0.000002")


class TaskScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskScore

    model = factory.SubFactory(ModelFactory)
    task = "code"
    score = Decimal("0.8")
    source = "manual"
    sample_size = 10


class SyncedModelFactory(ModelFactory):
    """A model as the LiteLLM sync creates it (so the next sync manages, and may deprecate, it)."""

    source = "litellm"
