from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.billing.models import Budget, BudgetPeriod, BudgetScope, LedgerEntry


def ledger_balance(*, workspace) -> Decimal:
    total = LedgerEntry.objects.filter(workspace=workspace).aggregate(total=Sum("amount_usd"))["total"]
    return total if total is not None else Decimal("0")


def ledger_entry_list(*, workspace) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(workspace=workspace).select_related("created_by", "counterparty")


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    credits: Decimal  # every amount ever added: top-ups, refunds, transfers in, upward corrections
    balance: Decimal


def ledger_totals(*, workspace) -> LedgerTotals:
    """Credits added and the balance, in one query."""
    totals = LedgerEntry.objects.filter(workspace=workspace).aggregate(
        credits=Sum("amount_usd", filter=Q(amount_usd__gt=0)), balance=Sum("amount_usd")
    )
    return LedgerTotals(credits=totals["credits"] or Decimal("0"), balance=totals["balance"] or Decimal("0"))


@dataclass(frozen=True, slots=True)
class BudgetStanding:
    """One applicable budget and what its current window has spent so far."""

    budget_id: int
    scope: str  # BudgetScope
    period: str  # BudgetPeriod
    action: str  # BudgetAction
    limit_usd: Decimal
    spent_usd: Decimal
    window_start: datetime  # aware, in the workspace's timezone
    window_end: datetime
    thresholds: tuple[int, ...]  # alert thresholds in percent, sorted

    @property
    def used_fraction(self) -> float:
        """Spent over limit; past 1.0 once overspent. A $0 budget is fully used from the start."""
        if self.limit_usd <= 0:
            return 1.0
        return float(self.spent_usd / self.limit_usd)

    @property
    def remaining_usd(self) -> Decimal:
        return max(self.limit_usd - self.spent_usd, Decimal("0"))


def workspace_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A bad name must not break the request path; UTC is the field's default.
        return ZoneInfo("UTC")


def budget_window(*, period: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The current window of a budget period: local midnight to midnight, or the 1st to the next 1st."""
    local = now.astimezone(zone)
    if period == BudgetPeriod.DAILY:
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
        following = local.date() + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
    else:
        start = datetime(local.year, local.month, 1, tzinfo=zone)
        end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    return start, end


def _thresholds(values) -> tuple[int, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(sorted(int(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)))


def budget_standings(
    *, workspace_id: int, agent_id: int | None, api_key_id: int | None, now: datetime | None = None
) -> list[BudgetStanding]:
    """The active budgets that apply to a call (the workspace's, the agent's, the API key's) and their spend.

    Spend is the usage records' cost in the budget's current window, summed in the database: two queries in all.
    """
    targets = Q(scope=BudgetScope.WORKSPACE)
    if agent_id is not None:
        targets |= Q(scope=BudgetScope.AGENT, agent_id=agent_id)
    if api_key_id is not None:
        targets |= Q(scope=BudgetScope.API_KEY, api_key_id=api_key_id)
    budgets = list(
        Budget.objects.filter(targets, workspace_id=workspace_id, is_active=True)
        .select_related("workspace")
        .only(
            "id",
            "scope",
            "period",
            "action",
            "limit_usd",
            "alert_thresholds",
            "agent_id",
            "api_key_id",
            "workspace__timezone",
        )
        .order_by("id")
    )
    if not budgets:
        return []
    now = now or timezone.now()
    zone = workspace_zone(budgets[0].workspace.timezone)
    windows = {budget.pk: budget_window(period=budget.period, now=now, zone=zone) for budget in budgets}
    sums = {}
    for budget in budgets:
        start, end = windows[budget.pk]
        spent = Q(created_at__gte=start, created_at__lt=end)
        if budget.scope == BudgetScope.AGENT:
            spent &= Q(agent_id=budget.agent_id)
        elif budget.scope == BudgetScope.API_KEY:
            spent &= Q(api_key_id=budget.api_key_id)
        sums[f"budget_{budget.pk}"] = Sum("cost_usd", filter=spent)
    earliest = min(start for start, _ in windows.values())
    latest = max(end for _, end in windows.values())
    totals = UsageRecord.objects.filter(
        workspace_id=workspace_id, created_at__gte=earliest, created_at__lt=latest
    ).aggregate(**sums)
    return [
        BudgetStanding(
            budget_id=budget.pk,
            scope=budget.scope,
            period=budget.period,
            action=budget.action,
            limit_usd=budget.limit_usd,
            spent_usd=totals[f"budget_{budget.pk}"] or Decimal("0"),
            window_start=windows[budget.pk][0],
            window_end=windows[budget.pk][1],
            thresholds=_thresholds(budget.alert_thresholds),
        )
        for budget in budgets
    ]
