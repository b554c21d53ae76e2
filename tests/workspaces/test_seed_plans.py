import pytest

from apps.workspaces.models import ModelAccess, Plan

pytestmark = pytest.mark.django_db


def test_default_plans_are_seeded_by_migration():
    plans = {plan.slug: plan for plan in Plan.objects.all()}
    assert list(plans) == ["starter", "pro", "enterprise"]

    starter, pro, enterprise = plans["starter"], plans["pro"], plans["enterprise"]
    assert starter.monthly_token_quota == 100_000
    assert starter.model_access == ModelAccess.DEFAULT
    assert starter.is_default and not starter.byok_allowed and not starter.overage_allowed

    assert pro.monthly_token_quota == 5_000_000
    assert pro.model_access == ModelAccess.ALL
    assert pro.byok_allowed and pro.overage_allowed

    assert enterprise.is_unlimited
    assert enterprise.byok_allowed
