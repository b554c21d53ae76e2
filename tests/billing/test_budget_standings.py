from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.billing.models import BudgetAction, BudgetPeriod, BudgetScope
from apps.billing.selectors import BudgetStanding, budget_standings
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import BudgetFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 15, 10, 0, tzinfo=LA)  # 17:00 UTC


def _local(*args) -> datetime:
    return datetime(*args, tzinfo=LA)


def _spend(workspace, cost: str, at: datetime, **kwargs) -> None:
    UsageRecordFactory(workspace=workspace, cost_usd=Decimal(cost), created_at=at, **kwargs)


def _standing(standings: list[BudgetStanding], budget) -> BudgetStanding:
    return next(s for s in standings if s.budget_id == budget.pk)


@pytest.fixture
def workspace():
    return WorkspaceFactory(timezone="America/Los_Angeles")


def test_daily_window_runs_from_local_midnight_to_local_midnight(workspace):
    budget = BudgetFactory(workspace=workspace, period=BudgetPeriod.DAILY, limit_usd=Decimal("10"))
    _spend(workspace, "1", _local(2026, 3, 14, 23, 59, 59))  # yesterday, local (but 2026-03-15 UTC)
    _spend(workspace, "2", _local(2026, 3, 15, 0, 0, 0))
    _spend(workspace, "0.25", _local(2026, 3, 15, 23, 59, 59))  # 2026-03-16 UTC, still today locally
    _spend(workspace, "8", _local(2026, 3, 16, 0, 0, 0))

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.budget_id == budget.pk
    assert standing.spent_usd == Decimal("2.25")
    assert standing.window_start == _local(2026, 3, 15)
    assert standing.window_end == _local(2026, 3, 16)
    assert standing.window_start.utcoffset() == timedelta(hours=-7)
    assert standing.remaining_usd == Decimal("7.75")
    assert standing.used_fraction == pytest.approx(0.225)


def test_monthly_window_runs_from_the_local_first_to_the_next_first(workspace):
    BudgetFactory(workspace=workspace, period=BudgetPeriod.MONTHLY, limit_usd=Decimal("100"))
    _spend(workspace, "5", _local(2026, 2, 28, 23, 59, 59))  # already March 1st in UTC
    _spend(workspace, "3", _local(2026, 3, 1, 0, 0, 0))
    _spend(workspace, "4", _local(2026, 3, 31, 23, 59, 59))  # April 1st in UTC, March locally
    _spend(workspace, "7", _local(2026, 4, 1, 0, 0, 0))

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.spent_usd == Decimal("7")
    assert standing.window_start == _local(2026, 3, 1)
    assert standing.window_end == _local(2026, 4, 1)
    # The window crosses the switch to daylight saving time: each end keeps its own offset.
    assert standing.window_start.utcoffset() == timedelta(hours=-8)
    assert standing.window_end.utcoffset() == timedelta(hours=-7)


def test_windows_follow_the_calendar_across_dst_and_year_end(workspace):
    BudgetFactory(workspace=workspace, period=BudgetPeriod.DAILY)
    BudgetFactory(workspace=workspace, period=BudgetPeriod.MONTHLY)

    daily, monthly = budget_standings(
        workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=_local(2026, 3, 8, 12, 0)
    )
    # Same-zone subtraction is wall-clock time in Python, so compare the instants in UTC.
    assert daily.window_end.astimezone(UTC) - daily.window_start.astimezone(UTC) == timedelta(hours=23)

    daily, monthly = budget_standings(
        workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=_local(2026, 12, 31, 23, 30)
    )
    assert (daily.window_start, daily.window_end) == (_local(2026, 12, 31), _local(2027, 1, 1))
    assert (monthly.window_start, monthly.window_end) == (_local(2026, 12, 1), _local(2027, 1, 1))


def test_agent_and_key_budgets_count_only_their_own_spend_and_the_workspace_budget_counts_all(workspace):
    agent, other_agent = AgentFactory(workspace=workspace), AgentFactory(workspace=workspace)
    key, other_key = ApiKeyFactory(workspace=workspace), ApiKeyFactory(workspace=workspace)
    workspace_budget = BudgetFactory(workspace=workspace)
    agent_budget = BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=agent)
    key_budget = BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=key)
    BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=other_agent)
    BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=other_key)
    at = NOW - timedelta(hours=1)
    _spend(workspace, "1", at, agent=agent, api_key=key)
    _spend(workspace, "10", at, agent=other_agent, api_key=key)
    _spend(workspace, "100", at, agent=agent, api_key=other_key)
    _spend(workspace, "1000", at, agent=other_agent, api_key=other_key)
    _spend(workspace, "10000", at)

    standings = budget_standings(workspace_id=workspace.pk, agent_id=agent.pk, api_key_id=key.pk, now=NOW)

    assert [s.budget_id for s in standings] == [workspace_budget.pk, agent_budget.pk, key_budget.pk]
    assert _standing(standings, workspace_budget).spent_usd == Decimal("11111")
    assert _standing(standings, agent_budget).spent_usd == Decimal("101")
    assert _standing(standings, key_budget).spent_usd == Decimal("11")
    assert [s.scope for s in standings] == ["workspace", "agent", "api_key"]


def test_without_an_agent_or_key_only_workspace_budgets_apply(workspace):
    agent, key = AgentFactory(workspace=workspace), ApiKeyFactory(workspace=workspace)
    workspace_budget = BudgetFactory(workspace=workspace)
    BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=agent)
    BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=key)

    standings = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert [s.budget_id for s in standings] == [workspace_budget.pk]


def test_inactive_budgets_and_other_workspaces_are_ignored(workspace):
    active = BudgetFactory(workspace=workspace, limit_usd=Decimal("5"))
    BudgetFactory(workspace=workspace, is_active=False)
    other = WorkspaceFactory(timezone="America/Los_Angeles")
    BudgetFactory(workspace=other)
    _spend(workspace, "1.5", NOW)
    _spend(other, "40", NOW)

    standings = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert [(s.budget_id, s.spent_usd) for s in standings] == [(active.pk, Decimal("1.5"))]


def test_a_budget_with_no_spend_reads_zero_and_records_of_unknown_price_add_nothing(workspace):
    BudgetFactory(workspace=workspace, limit_usd=Decimal("2"))
    UsageRecordFactory(workspace=workspace, cost_usd=None, price_unknown=True, created_at=NOW)

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.spent_usd == Decimal("0")
    assert isinstance(standing.spent_usd, Decimal)
    assert standing.used_fraction == 0.0
    assert standing.remaining_usd == Decimal("2")


def test_standing_carries_action_and_sorted_thresholds(workspace):
    BudgetFactory(workspace=workspace, action=BudgetAction.DOWNGRADE, alert_thresholds=[100, 50, 80])

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.action == "downgrade"
    assert standing.thresholds == (50, 80, 100)


def test_overspent_and_zero_budgets(workspace):
    overspent = BudgetFactory(workspace=workspace, limit_usd=Decimal("1"))
    zero = BudgetFactory(workspace=workspace, limit_usd=Decimal("0"))
    _spend(workspace, "1.5", NOW)

    standings = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert _standing(standings, overspent).used_fraction == pytest.approx(1.5)
    assert _standing(standings, overspent).remaining_usd == Decimal("0")
    assert _standing(standings, zero).used_fraction == 1.0
    assert _standing(standings, zero).remaining_usd == Decimal("0")


def test_zero_budget_with_nothing_spent_is_fully_used(workspace):
    BudgetFactory(workspace=workspace, limit_usd=Decimal("0"))

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.used_fraction == 1.0


def test_an_unknown_timezone_falls_back_to_utc():
    workspace = WorkspaceFactory(timezone="Mars/Olympus_Mons")
    BudgetFactory(workspace=workspace, period=BudgetPeriod.DAILY)

    [standing] = budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW)

    assert standing.window_start == datetime(2026, 3, 15, tzinfo=ZoneInfo("UTC"))


def test_spend_is_summed_in_the_database_in_two_queries(workspace, django_assert_num_queries):
    agent, key = AgentFactory(workspace=workspace), ApiKeyFactory(workspace=workspace)
    BudgetFactory(workspace=workspace, period=BudgetPeriod.DAILY)
    BudgetFactory(workspace=workspace, period=BudgetPeriod.MONTHLY)
    BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=agent)
    BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=key)
    for _ in range(5):
        _spend(workspace, "0.1", NOW, agent=agent, api_key=key)

    with django_assert_num_queries(2):
        standings = budget_standings(workspace_id=workspace.pk, agent_id=agent.pk, api_key_id=key.pk, now=NOW)

    assert [s.spent_usd for s in standings] == [Decimal("0.5")] * 4


def test_no_budgets_costs_one_query(workspace, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert budget_standings(workspace_id=workspace.pk, agent_id=None, api_key_id=None, now=NOW) == []
