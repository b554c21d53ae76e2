import pytest

from apps.billing.models import Budget, BudgetAlert, LedgerEntry, OverageRecord, Reservation, SpendCounter
from tests.billing.factories import (
    BudgetAlertFactory,
    BudgetFactory,
    LedgerEntryFactory,
    OverageRecordFactory,
    ReservationFactory,
    SpendCounterFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("factory_class", "model"),
    [
        (BudgetFactory, Budget),
        (BudgetAlertFactory, BudgetAlert),
        (SpendCounterFactory, SpendCounter),
        (ReservationFactory, Reservation),
        (LedgerEntryFactory, LedgerEntry),
        (OverageRecordFactory, OverageRecord),
    ],
)
def test_factory_saves_a_valid_row(factory_class, model):
    obj = factory_class()
    obj.full_clean(validate_unique=False)
    assert model.objects.filter(pk=obj.pk).exists()


def test_overage_record_factory_uses_the_workspace_plan():
    overage = OverageRecordFactory()
    assert overage.plan_id == overage.workspace.plan_id
