from decimal import Decimal

import factory
from django.utils import timezone

from apps.analytics.models import AuditEvent, ModelHealth, UsageRecord, UsageRollup
from tests.catalog.factories import ModelFactory
from tests.workspaces.factories import WorkspaceFactory


class UsageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    generation_id = factory.Sequence(lambda n: f"gen-{n:08d}")
    workspace = factory.SubFactory(WorkspaceFactory)
    model = factory.SubFactory(ModelFactory)
    model_name = factory.LazyAttribute(lambda o: o.model.model_id)
    requested_model = factory.LazyAttribute(lambda o: o.model.model_id)
    provider = factory.SelfAttribute("model.provider")
    provider_slug = factory.LazyAttribute(lambda o: o.provider.slug)
    prompt_tokens = 120
    completion_tokens = 40
    cost_usd = Decimal("0.000042")
    latency_ms = 350
    created_at = factory.LazyFunction(timezone.now)


class UsageRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRollup

    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
    workspace = factory.SubFactory(WorkspaceFactory)
    model_name = "provider-x/model-x"
    provider_slug = "provider-x"
    requests = 10
    prompt_tokens = 1200
    completion_tokens = 400
    cost_usd = Decimal("0.00042")


class ModelHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelHealth

    model = factory.SubFactory(ModelFactory)
    requests = 100
    successes = 97
    error_rate = Decimal("0.03")
    latency_p50_ms = 420


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    workspace = factory.SubFactory(WorkspaceFactory)
    action = "workspace.created"
    target_type = "workspaces.workspace"
    target_id = factory.LazyAttribute(lambda o: str(o.workspace.pk))
    target_repr = factory.LazyAttribute(lambda o: str(o.workspace))
