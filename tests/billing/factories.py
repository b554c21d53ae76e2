import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from apps.billing.models import (
    Budget,
    BudgetAlert,
    BudgetScope,
    LedgerEntry,
    LedgerKind,
    OverageRecord,
    Reservation,
    SpendCounter,
)
from tests.workspaces.factories import WorkspaceFactory


def _month_start() -> datetime.datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    workspace = factory.SubFactory(WorkspaceFactory)
    scope = BudgetScope.WORKSPACE
    limit_usd = Decimal("100")


class BudgetAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BudgetAlert

    budget = factory.SubFactory(BudgetFactory)
    window_start = factory.LazyFunction(_month_start)
    threshold = 80
    spent_usd = Decimal("80.5")


class SpendCounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SpendCounter

    key = factory.Sequence(lambda n: f"budget:{n}:{timezone.now():%Y-%m}")
    window_start = factory.LazyFunction(_month_start)
    spent_usd = Decimal("1.25")


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation

    workspace = factory.SubFactory(WorkspaceFactory)
    counter_keys = factory.LazyFunction(lambda: [f"quota:1:{timezone.now():%Y-%m}"])
    amount_usd = Decimal("0.05")
    tokens = 1000
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(minutes=5))


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerEntry

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = LedgerKind.TOPUP
    amount_usd = Decimal("10")
    description = "Top-up"


class OverageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OverageRecord

    workspace = factory.SubFactory(WorkspaceFactory)
    plan = factory.SelfAttribute("workspace.plan")
    period_start = factory.LazyFunction(lambda: _month_start().date())
    tokens = 5000
    amount_usd = Decimal("0.0125")


class SpoolRecordFactory(factory.DictFactory):
    """A usage record as the gateway spools it (`CallRecord.as_spool_record`), for `usage_records_ingest`."""

    generation_id = factory.Sequence(lambda n: f"gen-spool-{n:08d}")
    workspace_id = factory.LazyFunction(lambda: WorkspaceFactory().pk)
    endpoint = "chat.completions"
    requested_model = "openai/gpt-4o-mini"
    model_name = "openai/gpt-4o-mini"
    provider_slug = "openai"
    is_byok = False
    prompt_tokens = 120
    completion_tokens = 40
    cost_usd = "0.0000420000"
    price_unknown = factory.LazyAttribute(lambda o: o.cost_usd is None)
    status = "success"
    http_status = 200
    created_at = factory.LazyFunction(lambda: timezone.now().isoformat())
