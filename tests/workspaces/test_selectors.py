import pytest

from apps.catalog.models import Model, PlanTier
from apps.workspaces.models import ModelAccess, Plan
from apps.workspaces.selectors import plan_allows_model, plan_get_default, plan_model_filter
from tests.catalog.factories import ModelFactory
from tests.workspaces.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def models():
    return {
        "default": ModelFactory(default_installed=True, plan_tier=PlanTier.ENTERPRISE),
        "starter": ModelFactory(plan_tier=PlanTier.STARTER),
        "pro": ModelFactory(plan_tier=PlanTier.PRO),
        "enterprise": ModelFactory(plan_tier=PlanTier.ENTERPRISE),
        "listed": ModelFactory(plan_tier=PlanTier.ENTERPRISE),
    }


@pytest.mark.parametrize(
    ("access", "tiers", "allowed"),
    [
        (ModelAccess.DEFAULT, [], {"default", "listed"}),
        (ModelAccess.TIERS, [PlanTier.STARTER, PlanTier.PRO], {"starter", "pro", "listed"}),
        (ModelAccess.TIERS, [], {"listed"}),
        (ModelAccess.ALL, [], {"default", "starter", "pro", "enterprise", "listed"}),
    ],
)
def test_plan_allows_model_for_each_access_mode(models, access, tiers, allowed):
    plan = PlanFactory(model_access=access, allowed_tiers=tiers, allowed_models=[models["listed"]])
    assert {name for name, model in models.items() if plan_allows_model(plan=plan, model=model)} == allowed
    # The queryset form of the rule agrees with the per-model one.
    filtered = set(Model.objects.filter(plan_model_filter(plan=plan)).values_list("pk", flat=True))
    assert filtered == {models[name].pk for name in allowed}


def test_plan_get_default_prefers_the_marked_plan():
    Plan.objects.all().delete()  # the plans seeded by migration
    assert plan_get_default() is None
    first = PlanFactory(sort_order=0)
    assert plan_get_default() == first
    marked = PlanFactory(sort_order=9, is_default=True)
    assert plan_get_default() == marked
