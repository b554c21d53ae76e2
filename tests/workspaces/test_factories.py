import pytest

from apps.workspaces.models import Agent, AgentFallback, InstalledModel, Membership, Plan, Workspace
from tests.catalog.factories import ModelFactory
from tests.workspaces.factories import (
    AgentFactory,
    AgentFallbackFactory,
    InstalledModelFactory,
    MembershipFactory,
    PlanFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("factory_class", "model"),
    [
        (PlanFactory, Plan),
        (WorkspaceFactory, Workspace),
        (MembershipFactory, Membership),
        (InstalledModelFactory, InstalledModel),
        (AgentFactory, Agent),
        (AgentFallbackFactory, AgentFallback),
    ],
)
def test_factory_saves_a_valid_row(factory_class, model):
    obj = factory_class()
    obj.full_clean()
    assert model.objects.filter(pk=obj.pk).exists()


def test_plan_factory_sets_allowed_models():
    model = ModelFactory()
    plan = PlanFactory(allowed_models=[model])
    assert list(plan.allowed_models.all()) == [model]
