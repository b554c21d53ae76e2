from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.billing.models import MONEY, Budget, BudgetAlert, BudgetPeriod, BudgetScope, LedgerEntry
from apps.workspaces.models import Agent

LEDGER_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])


def ledger_sum(total: Decimal | None) -> Decimal:
    """A sum of ledger amounts to the ledger's precision. SQLite (the embedded mode) adds decimals as floats; every
    amount has at most 8 decimals, so rounding the sum to 8 gives the exact figure back (up to ~10^7 USD)."""
    return Decimal("0") if total is None else total.quantize(LEDGER_QUANTUM)


def ledger_balance(*, workspace) -> Decimal:
    return ledger_sum(LedgerEntry.objects.filter(workspace=workspace).aggregate(total=Sum("amount_usd"))["total"])


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
    return LedgerTotals(credits=ledger_sum(totals["credits"]), balance=ledger_sum(totals["balance"]))


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


def budget_spend_in_windows(*, budgets, windows: dict[int, tuple[datetime, datetime]]) -> dict[int, Decimal]:
    """Each budget's usage cost in its window (budget id → (start, end)), only its agent's or API key's for those
    scopes, summed in the database in one query; the budgets may belong to several workspaces."""
    sums = {}
    for budget in budgets:
        start, end = windows[budget.pk]
        spent = Q(workspace_id=budget.workspace_id, created_at__gte=start, created_at__lt=end)
        if budget.scope == BudgetScope.AGENT:
            spent &= Q(agent_id=budget.agent_id)
        elif budget.scope == BudgetScope.API_KEY:
            spent &= Q(api_key_id=budget.api_key_id)
        sums[f"budget_{budget.pk}"] = Sum("cost_usd", filter=spent)
    earliest = min(start for start, _ in windows.values())
    latest = max(end for _, end in windows.values())
    totals = UsageRecord.objects.filter(
        workspace_id__in={budget.workspace_id for budget in budgets}, created_at__gte=earliest, created_at__lt=latest
    ).aggregate(**sums)
    return {budget.pk: totals[f"budget_{budget.pk}"] or Decimal("0") for budget in budgets}


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
    spent = budget_spend_in_windows(budgets=budgets, windows=windows)
    return [
        BudgetStanding(
            budget_id=budget.pk,
            scope=budget.scope,
            period=budget.period,
            action=budget.action,
            limit_usd=budget.limit_usd,
            spent_usd=spent[budget.pk],
            window_start=windows[budget.pk][0],
            window_end=windows[budget.pk][1],
            thresholds=_thresholds(budget.alert_thresholds),
        )
        for budget in budgets
    ]


@dataclass(frozen=True, slots=True)
class BudgetAlertSent:
    threshold: int
    spent_usd: Decimal  # what the window had spent when the alert went out
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """What one budget's current window has spent, and the threshold alerts already sent in that window."""

    limit_usd: Decimal
    spent_usd: Decimal
    window_start: datetime  # aware, in the workspace's timezone
    window_end: datetime
    thresholds: tuple[int, ...]  # the budget's valid alert thresholds, sorted, without repeats
    alerts_sent: tuple[BudgetAlertSent, ...]  # by threshold

    @property
    def remaining_usd(self) -> Decimal:
        return max(self.limit_usd - self.spent_usd, Decimal("0"))

    @property
    def used_percent(self) -> Decimal:
        """Spent over limit in percent, two decimals; past 100 once overspent. A $0 budget is used up from the start."""
        if self.limit_usd <= 0:
            return Decimal("100.00")
        return (self.spent_usd * 100 / self.limit_usd).quantize(Decimal("0.01"))

    @property
    def thresholds_reached(self) -> tuple[int, ...]:
        """Thresholds the spend has reached. Nothing is reached before the first cent is spent (a $0 budget too)."""
        if self.spent_usd <= 0:
            return ()
        return tuple(t for t in self.thresholds if self.spent_usd * 100 >= self.limit_usd * t)

    @property
    def thresholds_alerted(self) -> tuple[int, ...]:
        return tuple(alert.threshold for alert in self.alerts_sent)


@dataclass(frozen=True, slots=True)
class BudgetWithSpend:
    budget: Budget
    spend: BudgetSpend


def budget_spend_map(*, budgets: Sequence[Budget], now: datetime | None = None) -> dict[int, BudgetSpend]:
    """The current window's spend and alerts of each budget, by budget id, in two queries however many budgets.

    The budgets may belong to several workspaces; each needs its workspace loaded (its timezone sets the windows).
    """
    if not budgets:
        return {}
    now = now or timezone.now()
    windows = {
        budget.pk: budget_window(period=budget.period, now=now, zone=workspace_zone(budget.workspace.timezone))
        for budget in budgets
    }
    spent = budget_spend_in_windows(budgets=budgets, windows=windows)
    earliest = min(start for start, _ in windows.values())
    alerts: dict[int, list[BudgetAlertSent]] = {budget.pk: [] for budget in budgets}
    rows = BudgetAlert.objects.filter(budget_id__in=list(alerts), window_start__gte=earliest).order_by("threshold")
    for budget_id, window_start, threshold, spent_usd, sent_at in rows.values_list(
        "budget_id", "window_start", "threshold", "spent_usd", "sent_at"
    ):
        if window_start == windows[budget_id][0]:
            alerts[budget_id].append(BudgetAlertSent(threshold=threshold, spent_usd=spent_usd, sent_at=sent_at))
    return {
        budget.pk: BudgetSpend(
            limit_usd=budget.limit_usd,
            spent_usd=spent[budget.pk],
            window_start=windows[budget.pk][0],
            window_end=windows[budget.pk][1],
            thresholds=tuple(sorted(set(_thresholds(budget.alert_thresholds)))),
            alerts_sent=tuple(alerts[budget.pk]),
        )
        for budget in budgets
    }


def _budgets_of(*, workspace) -> QuerySet[Budget]:
    return (
        Budget.objects.filter(workspace=workspace)
        .select_related("workspace", "agent", "api_key")
        .defer("api_key__key_hash")
        .order_by("id")
    )


def budget_list_with_spend(*, workspace, now: datetime | None = None) -> list[BudgetWithSpend]:
    """Every budget of the workspace (active or not) with its current window's spend: three queries in all."""
    budgets = list(_budgets_of(workspace=workspace))
    spend = budget_spend_map(budgets=budgets, now=now)
    return [BudgetWithSpend(budget=budget, spend=spend[budget.pk]) for budget in budgets]


def budget_get(*, workspace, budget_id: int) -> Budget | None:
    return _budgets_of(workspace=workspace).filter(pk=budget_id).first()


def budget_get_with_spend(*, workspace, budget_id: int, now: datetime | None = None) -> BudgetWithSpend | None:
    budget = budget_get(workspace=workspace, budget_id=budget_id)
    if budget is None:
        return None
    return BudgetWithSpend(budget=budget, spend=budget_spend_map(budgets=[budget], now=now)[budget.pk])


def budget_active_list(*, workspace_ids: Iterable[int] | None = None, after_id: int = 0) -> QuerySet[Budget]:
    """Active budgets of active workspaces, in id order from after `after_id`, with what alerts need to name them."""
    budgets = Budget.objects.filter(is_active=True, workspace__is_active=True, pk__gt=after_id)
    if workspace_ids is not None:
        budgets = budgets.filter(workspace_id__in=list(workspace_ids))
    return budgets.select_related("workspace", "agent", "api_key").defer("api_key__key_hash").order_by("pk")


def budget_agent_find(*, workspace, ref: str) -> Agent | None:
    """An agent of the workspace by id when `ref` is a number (else, or if no agent has that id, by slug)."""
    agents = Agent.objects.filter(workspace=workspace)
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        found = agents.filter(pk=int(ref)).first()
        if found is not None:
            return found
    return agents.filter(slug=ref).first()
