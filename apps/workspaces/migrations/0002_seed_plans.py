from decimal import Decimal

from django.db import migrations

PLANS = [
    {
        "slug": "starter",
        "name": "Starter",
        "description": "100K tokens a month on the default models.",
        "sort_order": 10,
        "monthly_price": Decimal("0"),
        "monthly_token_quota": 100_000,
        "model_access": "default",
        "allowed_tiers": ["starter"],
        "byok_allowed": False,
        "overage_allowed": False,
        "rpm_limit": 60,
        "tpm_limit": 100_000,
        "is_default": True,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "description": "5M tokens a month, every model, bring your own keys, overage at cost.",
        "sort_order": 20,
        "monthly_price": Decimal("49"),
        "monthly_token_quota": 5_000_000,
        "model_access": "all",
        "allowed_tiers": ["starter", "pro", "enterprise"],
        "byok_allowed": True,
        "overage_allowed": True,
        "overage_price_per_million": Decimal("2.00"),
        "rpm_limit": 600,
        "tpm_limit": 2_000_000,
    },
    {
        "slug": "enterprise",
        "name": "Enterprise",
        "description": "Unlimited tokens, every model, bring your own keys.",
        "sort_order": 30,
        "monthly_price": Decimal("499"),
        "monthly_token_quota": None,
        "model_access": "all",
        "allowed_tiers": ["starter", "pro", "enterprise"],
        "byok_allowed": True,
        "overage_allowed": False,
        "rpm_limit": None,
        "tpm_limit": None,
    },
]


def seed_plans(apps, schema_editor):
    Plan = apps.get_model("workspaces", "Plan")
    for fields in PLANS:
        Plan.objects.get_or_create(slug=fields["slug"], defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0001_initial")]

    operations = [migrations.RunPython(seed_plans, migrations.RunPython.noop)]
