from decimal import Decimal

import pytest

from apps.billing.models import LedgerKind
from apps.billing.selectors import ledger_balance, ledger_entry_list
from tests.billing.factories import LedgerEntryFactory
from tests.workspaces.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_balance_of_an_empty_ledger_is_decimal_zero():
    balance = ledger_balance(workspace=WorkspaceFactory())
    assert balance == Decimal("0")
    assert isinstance(balance, Decimal)


def test_balance_sums_only_the_workspace_entries_exactly():
    workspace = WorkspaceFactory()
    LedgerEntryFactory(workspace=workspace, amount_usd=Decimal("10.10000001"))
    LedgerEntryFactory(workspace=workspace, amount_usd=Decimal("0.20000002"))
    LedgerEntryFactory(workspace=workspace, kind=LedgerKind.CHARGE, amount_usd=Decimal("-0.00000003"))
    LedgerEntryFactory(amount_usd=Decimal("99"))
    balance = ledger_balance(workspace=workspace)
    assert balance == Decimal("10.30000000")
    assert isinstance(balance, Decimal)
    assert ledger_entry_list(workspace=workspace).count() == 3
