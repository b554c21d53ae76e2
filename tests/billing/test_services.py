from decimal import Decimal

import pytest

from apps.analytics.models import AuditEvent
from apps.billing.models import ImmutableRowError, LedgerEntry, LedgerKind
from apps.billing.selectors import ledger_balance
from apps.billing.services import budget_validate_target, ledger_correction, ledger_topup
from apps.core.errors import ApplicationError
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


class TestLedgerTopup:
    def test_adds_a_topup_entry_and_an_audit_event(self):
        workspace = WorkspaceFactory()
        user = UserFactory(staff=True)
        entry = ledger_topup(
            workspace=workspace, amount_usd=Decimal("25.12345678"), description="Invoice 7", created_by=user
        )
        entry = LedgerEntry.objects.get(pk=entry.pk)
        assert (entry.kind, entry.amount_usd, entry.description) == (
            LedgerKind.TOPUP,
            Decimal("25.12345678"),
            "Invoice 7",
        )
        assert entry.created_by == user
        assert ledger_balance(workspace=workspace) == Decimal("25.12345678")
        event = AuditEvent.objects.get(action="ledger.topup")
        assert event.data["amount_usd"] == "25.12345678"

    @pytest.mark.parametrize(
        "amount",
        [
            Decimal("-5"),
            Decimal("0"),
            Decimal("0.000000000"),
            Decimal("1.123456789"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("1e12"),
            "ten dollars",
            "",
            None,
            1.5,
            True,
        ],
    )
    def test_refuses_bad_amounts_and_writes_nothing(self, amount):
        workspace = WorkspaceFactory()
        with pytest.raises(ApplicationError) as exc:
            ledger_topup(workspace=workspace, amount_usd=amount)
        assert exc.value.extra == {"field": "amount_usd"}
        assert not LedgerEntry.objects.exists()
        assert not AuditEvent.objects.exists()

    def test_trailing_zeros_beyond_eight_places_are_fine(self):
        entry = ledger_topup(workspace=WorkspaceFactory(), amount_usd=Decimal("3.5000000000"))
        assert entry.amount_usd == Decimal("3.5")

    def test_string_amounts_are_parsed_exactly(self):
        entry = ledger_topup(workspace=WorkspaceFactory(), amount_usd="0.1")
        assert LedgerEntry.objects.get(pk=entry.pk).amount_usd == Decimal("0.1")

    def test_is_idempotent_on_its_key(self):
        workspace = WorkspaceFactory()
        first = ledger_topup(workspace=workspace, amount_usd=Decimal("10"), idempotency_key="stripe-evt-1")
        again = ledger_topup(workspace=workspace, amount_usd=Decimal("10"), idempotency_key="stripe-evt-1")
        assert again.pk == first.pk
        assert LedgerEntry.objects.count() == 1
        assert ledger_balance(workspace=workspace) == Decimal("10")

    def test_reusing_a_key_for_another_amount_is_refused(self):
        workspace = WorkspaceFactory()
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"), idempotency_key="k")
        with pytest.raises(ApplicationError) as exc:
            ledger_topup(workspace=workspace, amount_usd=Decimal("11"), idempotency_key="k")
        assert (exc.value.status, exc.value.code) == (400, "idempotency_key_reused")
        assert LedgerEntry.objects.count() == 1

    def test_the_same_key_in_another_workspace_is_a_new_entry(self):
        ledger_topup(workspace=WorkspaceFactory(), amount_usd=Decimal("10"), idempotency_key="k")
        ledger_topup(workspace=WorkspaceFactory(), amount_usd=Decimal("10"), idempotency_key="k")
        assert LedgerEntry.objects.count() == 2


class TestLedgerCorrection:
    def test_a_negative_correction_lowers_the_balance(self):
        workspace = WorkspaceFactory()
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        entry = ledger_correction(workspace=workspace, amount_usd=Decimal("-2.5"), description="Double top-up")
        assert entry.kind == LedgerKind.ADJUSTMENT
        assert ledger_balance(workspace=workspace) == Decimal("7.5")

    @pytest.mark.parametrize(("amount", "description"), [(Decimal("0"), "why"), (Decimal("-1"), "  ")])
    def test_refuses_zero_and_unexplained_corrections(self, amount, description):
        with pytest.raises(ApplicationError):
            ledger_correction(workspace=WorkspaceFactory(), amount_usd=amount, description=description)
        assert not LedgerEntry.objects.exists()


def test_ledger_entries_are_immutable():
    entry = ledger_topup(workspace=WorkspaceFactory(), amount_usd=Decimal("1"))
    entry.amount_usd = Decimal("1000")
    with pytest.raises(ImmutableRowError):
        entry.save()
    with pytest.raises(ImmutableRowError):
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount_usd == Decimal("1")


def test_budget_targets_must_belong_to_the_workspace():
    workspace = WorkspaceFactory()
    budget_validate_target(workspace=workspace, agent=AgentFactory(workspace=workspace))
    with pytest.raises(ApplicationError) as exc:
        budget_validate_target(workspace=workspace, agent=AgentFactory())
    assert exc.value.extra == {"field": "agent"}
    with pytest.raises(ApplicationError) as exc:
        budget_validate_target(workspace=workspace, api_key=ApiKeyFactory())
    assert exc.value.extra == {"field": "api_key"}
