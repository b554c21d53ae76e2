from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.analytics.models import AuditEvent
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
from apps.billing.selectors import budget_window, ledger_balance
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import (
    BudgetAlertFactory,
    BudgetFactory,
    LedgerEntryFactory,
    OverageRecordFactory,
    ReservationFactory,
    SpendCounterFactory,
)
from tests.core.admin_checks import (
    admin_url,
    assert_access_is_restricted,
    assert_admin_pages_work,
    assert_changelist_queries_do_not_grow,
    changeform_data,
)
from tests.workspaces.factories import AgentFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("build", "contains"),
    [
        (lambda: BudgetFactory(workspace__name="Thrifty"), "Thrifty"),
        (lambda: BudgetAlertFactory(budget__workspace__name="Alarmed"), "Alarmed"),
        (lambda: SpendCounterFactory(key="budget:77:2030-01"), "budget:77:2030-01"),
        (lambda: ReservationFactory(workspace__name="Holding"), "Holding"),
        (lambda: LedgerEntryFactory(description="Wire 881"), "Wire 881"),
        (lambda: OverageRecordFactory(workspace__name="Overrun"), "Overrun"),
    ],
    ids=["budget", "budget-alert", "spend-counter", "reservation", "ledger-entry", "overage"],
)
def test_pages_load(admin_client, build, contains):
    assert_admin_pages_work(admin_client, build(), contains=contains)


@pytest.mark.parametrize("model", [Budget, BudgetAlert, SpendCounter, Reservation, LedgerEntry, OverageRecord])
def test_access_is_restricted(model):
    assert_access_is_restricted(model)


@pytest.mark.parametrize(
    ("build", "model"),
    [
        (BudgetAlertFactory, BudgetAlert),
        (SpendCounterFactory, SpendCounter),
        (ReservationFactory, Reservation),
        (OverageRecordFactory, OverageRecord),
    ],
)
def test_platform_rows_are_read_only(admin_client, build, model):
    obj = build()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


class TestLedgerAdmin:
    def _add(self, client, **fields):
        data = changeform_data(client.get(admin_url(LedgerEntry, "add")))
        data.update(fields)
        return client.post(admin_url(LedgerEntry, "add"), data)

    def test_topup_through_the_add_form_raises_the_balance(self, admin_client):
        workspace = WorkspaceFactory()
        response = self._add(
            admin_client, workspace=workspace.pk, kind=LedgerKind.TOPUP, amount_usd="12.5", description="PO 42"
        )
        assert response.status_code == 302
        assert ledger_balance(workspace=workspace) == Decimal("12.5")
        entry = LedgerEntry.objects.get()
        assert (entry.kind, entry.description, entry.created_by.username) == (LedgerKind.TOPUP, "PO 42", "admin")
        assert AuditEvent.objects.filter(action="ledger.topup", workspace=workspace).exists()

    def test_a_signed_correction_lowers_the_balance(self, admin_client):
        workspace = WorkspaceFactory()
        LedgerEntryFactory(workspace=workspace, amount_usd=Decimal("10"))
        response = self._add(
            admin_client, workspace=workspace.pk, kind=LedgerKind.ADJUSTMENT, amount_usd="-4", description="Refund"
        )
        assert response.status_code == 302
        assert ledger_balance(workspace=workspace) == Decimal("6")

    @pytest.mark.parametrize(
        ("kind", "amount", "description"),
        [
            (LedgerKind.TOPUP, "-5", "x"),
            (LedgerKind.TOPUP, "0", "x"),
            (LedgerKind.TOPUP, "abc", "x"),
            (LedgerKind.ADJUSTMENT, "-5", ""),
            (LedgerKind.CHARGE, "5", "x"),
        ],
    )
    def test_invalid_entries_are_refused(self, admin_client, kind, amount, description):
        response = self._add(
            admin_client, workspace=WorkspaceFactory().pk, kind=kind, amount_usd=amount, description=description
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert not LedgerEntry.objects.exists()

    def test_submitting_the_same_form_twice_adds_the_credit_once(self, admin_client):
        workspace = WorkspaceFactory()
        data = changeform_data(admin_client.get(admin_url(LedgerEntry, "add")))
        assert data["idempotency_key"]
        data.update(workspace=workspace.pk, kind=LedgerKind.TOPUP, amount_usd="5")
        admin_client.post(admin_url(LedgerEntry, "add"), data)
        admin_client.post(admin_url(LedgerEntry, "add"), data)
        assert LedgerEntry.objects.count() == 1
        assert ledger_balance(workspace=workspace) == Decimal("5")

    def test_entries_cannot_be_changed_or_deleted(self, admin_client):
        entry = LedgerEntryFactory(amount_usd=Decimal("3"))
        change_page = admin_client.get(admin_url(LedgerEntry, "change", entry.pk))
        assert change_page.status_code == 200
        assert 'name="_save"' not in change_page.content.decode()
        assert admin_client.post(admin_url(LedgerEntry, "change", entry.pk), {"amount_usd": "300"}).status_code == 403
        assert admin_client.post(admin_url(LedgerEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
        assert LedgerEntry.objects.get(pk=entry.pk).amount_usd == Decimal("3")

    def test_changelist_has_no_actions(self, admin_client):
        LedgerEntryFactory()
        response = admin_client.get(admin_url(LedgerEntry, "changelist"))
        assert response.context["action_form"] is None
        assert "delete_selected" not in response.content.decode()


class TestBudgetAdmin:
    def test_edit_records_a_budget_changed_event(self, admin_client):
        budget = BudgetFactory(limit_usd=Decimal("100"))
        url = admin_url(Budget, "change", budget.pk)
        data = changeform_data(admin_client.get(url))
        data["limit_usd"] = "250"
        response = admin_client.post(url, data)
        assert response.status_code == 302
        budget.refresh_from_db()
        assert budget.limit_usd == Decimal("250")
        event = AuditEvent.objects.get(action="budget.changed")
        assert event.workspace == budget.workspace
        assert event.data["changes"]["limit_usd"] == {"from": "100.00000000", "to": "250"}

    def test_agent_of_another_workspace_is_refused(self, admin_client):
        workspace = WorkspaceFactory()
        url = admin_url(Budget, "add")
        data = changeform_data(admin_client.get(url))
        data.update(workspace=workspace.pk, scope=BudgetScope.AGENT, agent=AgentFactory().pk, limit_usd="10")
        response = admin_client.post(url, data)
        assert response.status_code == 200
        assert "another workspace" in response.content.decode()
        assert not Budget.objects.exists()

    def test_scope_must_match_its_target(self, admin_client):
        url = admin_url(Budget, "add")
        data = changeform_data(admin_client.get(url))
        data.update(workspace=WorkspaceFactory().pk, scope=BudgetScope.AGENT, limit_usd="10")
        response = admin_client.post(url, data)
        assert response.status_code == 200
        assert not Budget.objects.exists()

    def test_agent_budget_is_added(self, admin_client):
        agent = AgentFactory()
        url = admin_url(Budget, "add")
        data = changeform_data(admin_client.get(url))
        data.update(workspace=agent.workspace.pk, scope=BudgetScope.AGENT, agent=agent.pk, limit_usd="10")
        assert admin_client.post(url, data).status_code == 302
        assert Budget.objects.get().agent == agent
        assert AuditEvent.objects.filter(action="budget.created").exists()


class TestBudgetAdminSpend:
    def test_changelist_shows_each_budgets_window_spend(self, admin_client):
        new_york = WorkspaceFactory(timezone="America/New_York")
        tokyo = WorkspaceFactory(timezone="Asia/Tokyo")
        agent = AgentFactory(workspace=new_york)
        half = BudgetFactory(workspace=new_york, limit_usd=Decimal("10"))
        per_agent = BudgetFactory(
            workspace=new_york, scope=BudgetScope.AGENT, agent=agent, period="daily", limit_usd=Decimal("1")
        )
        untouched = BudgetFactory(workspace=tokyo, limit_usd=Decimal("1000"))
        day_start = budget_window(period="daily", now=timezone.now(), zone=ZoneInfo("America/New_York"))[0]
        UsageRecordFactory(workspace=new_york, agent=agent, cost_usd=Decimal("5"), created_at=day_start)
        UsageRecordFactory(workspace=tokyo, cost_usd=Decimal("7"), created_at=day_start - timedelta(days=40))

        response = admin_client.get(admin_url(Budget, "changelist"))

        assert response.status_code == 200
        rows = {budget.pk: budget.current_spend for budget in response.context["cl"].result_list}
        assert (rows[half.pk].spent_usd, rows[per_agent.pk].spent_usd, rows[untouched.pk].spent_usd) == (
            Decimal("5"),
            Decimal("5"),
            Decimal("0"),
        )
        page = response.content.decode()
        for column in ("Spent this window", "Remaining", "% used"):
            assert column in page
        assert '<td class="field-spent_this_window">$5.00</td>' in page
        assert '<td class="field-remaining">$5.00</td>' in page
        assert '<td class="field-used_percent">50.00%</td>' in page
        assert '<td class="field-used_percent">500.00%</td>' in page  # the agent's $1 daily budget, overspent
        assert '<td class="field-remaining">$1,000.00</td>' in page

    def test_change_page_shows_the_window_and_the_alerts_sent(self, admin_client):
        workspace = WorkspaceFactory(timezone="America/New_York")
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("10"))
        BudgetAlertFactory(budget=budget, threshold=50, spent_usd=Decimal("5.2"))
        BudgetAlertFactory(budget=budget, threshold=80, spent_usd=Decimal("8.4"))
        page = admin_client.get(admin_url(Budget, "change", budget.pk)).content.decode()
        assert "50%: $5.20 spent" in page and "80%: $8.40 spent" in page
        assert "(America/New_York)" in page
        assert "None yet." in admin_client.get(admin_url(Budget, "change", BudgetFactory().pk)).content.decode()

    def test_alert_thresholds_are_checked_and_sorted(self, admin_client):
        workspace = WorkspaceFactory()
        url = admin_url(Budget, "add")
        data = changeform_data(admin_client.get(url))
        data.update(workspace=workspace.pk, limit_usd="10", alert_thresholds="[0, 50]")
        refused = admin_client.post(url, data)
        assert refused.status_code == 200
        assert "Each alert threshold is a whole percentage from 1 to 100." in refused.content.decode()
        assert not Budget.objects.exists()
        data["alert_thresholds"] = "[90, 25, 90]"
        assert admin_client.post(url, data).status_code == 302
        assert Budget.objects.get().alert_thresholds == [25, 90]


@pytest.mark.parametrize(
    ("model", "factory_class"),
    [
        (Budget, BudgetFactory),
        (BudgetAlert, BudgetAlertFactory),
        (LedgerEntry, LedgerEntryFactory),
        (OverageRecord, OverageRecordFactory),
        (Reservation, ReservationFactory),
    ],
)
def test_changelists_run_no_query_per_row(admin_client, model, factory_class):
    assert_changelist_queries_do_not_grow(admin_client, model, factory_class.create_batch)
