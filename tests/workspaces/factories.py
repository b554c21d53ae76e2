from decimal import Decimal

import factory

from apps.workspaces.models import Agent, AgentFallback, InstalledModel, Membership, ModelAccess, Plan, Role, Workspace
from tests.catalog.factories import ModelFactory
from tests.core.factories import UserFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    sort_order = factory.Sequence(lambda n: n)
    monthly_price = Decimal("20.00")
    monthly_token_quota = 1_000_000
    model_access = ModelAccess.DEFAULT
    overage_price_per_million = Decimal("2.50")

    @factory.post_generation
    def allowed_models(self, create, extracted, **kwargs):
        if create and extracted:
            self.allowed_models.set(extracted)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")
    plan = factory.SubFactory(PlanFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class InstalledModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InstalledModel

    workspace = factory.SubFactory(WorkspaceFactory)
    model = factory.SubFactory(ModelFactory)


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    workspace = factory.SubFactory(WorkspaceFactory)
    slug = factory.Sequence(lambda n: f"agent-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    primary_model = factory.SubFactory(ModelFactory)


class AgentFallbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentFallback

    agent = factory.SubFactory(AgentFactory)
    model = factory.SubFactory(ModelFactory)
    position = factory.Sequence(lambda n: n + 1)
