"""A workspace's billing terms as the gateway keeps them, and the counters and rate limits one call draws on.

Loaded on the cold path with the caller's context (`billing_terms_for`), so the warm path builds a call's counters
without a query; `counter_seed` is the database read a backend makes the first time it needs a counter.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.billing.admission import BUDGET, CREDITS, QUOTA, REQUESTS, TOKENS, Counter, RateLimit, to_units
from apps.billing.models import Budget, BudgetAction, BudgetPeriod, BudgetScope
from apps.billing.selectors import budget_spend_in_windows, budget_window, ledger_balance, workspace_zone
from apps.workspaces.models import Plan

SCOPE_LABELS = {BudgetScope.WORKSPACE: "workspace", BudgetScope.AGENT: "agent", BudgetScope.API_KEY: "API key"}


@dataclass(frozen=True, slots=True)
class BlockingBudget:
    id: int
    scope: str
    agent_id: int | None
    api_key_id: int | None
    period: str
    limit_usd: Decimal


@dataclass(frozen=True, slots=True)
class BillingTerms:
    workspace_id: int
    timezone: str
    plan_name: str
    quota_tokens: int | None  # None: unlimited
    overage_allowed: bool
    overage_price_per_million: Decimal | None
    prepaid: bool
    key_rpm: int | None  # the API key's own limit, else the plan's
    key_tpm: int | None
    workspace_rpm: int | None
    workspace_tpm: int | None
    budgets: tuple[BlockingBudget, ...] = field(default_factory=tuple)
    upgrade: str = ""  # the next plan with a larger quota, for the quota_exceeded message: "Pro (5,000,000 tokens)"


def usd(amount: Decimal) -> str:
    return f"${amount.normalize():f}" if amount else "$0"


def billing_terms_for(*, api_key) -> BillingTerms:
    """The terms of an API key's workspace (its plan, billing mode, blocking budgets): one query for the budgets."""
    workspace = api_key.workspace
    plan = workspace.plan
    budgets = Budget.objects.filter(workspace=workspace, is_active=True, action=BudgetAction.BLOCK).only(
        "id", "scope", "agent_id", "api_key_id", "period", "limit_usd"
    )
    return BillingTerms(
        upgrade=_upgrade_hint(plan),
        workspace_id=workspace.pk,
        timezone=workspace.timezone,
        plan_name=plan.name,
        quota_tokens=plan.monthly_token_quota,
        overage_allowed=plan.overage_allowed,
        overage_price_per_million=plan.overage_price_per_million,
        prepaid=workspace.billing_mode == "prepaid",
        key_rpm=api_key.rpm_limit if api_key.rpm_limit is not None else plan.rpm_limit,
        key_tpm=api_key.tpm_limit if api_key.tpm_limit is not None else plan.tpm_limit,
        workspace_rpm=plan.rpm_limit,
        workspace_tpm=plan.tpm_limit,
        budgets=tuple(BlockingBudget(b.pk, b.scope, b.agent_id, b.api_key_id, b.period, b.limit_usd) for b in budgets),
    )


def _upgrade_hint(plan) -> str:
    """The first plan above this one with a larger monthly quota (or none), as a message names it."""
    if plan.monthly_token_quota is None:
        return ""
    larger = Q(monthly_token_quota__isnull=True) | Q(monthly_token_quota__gt=plan.monthly_token_quota)
    upgrade = Plan.objects.filter(larger, sort_order__gt=plan.sort_order).order_by("sort_order").first()
    if upgrade is None:
        return ""
    quota = "unlimited tokens" if upgrade.monthly_token_quota is None else f"{upgrade.monthly_token_quota:,} tokens"
    return f"{upgrade.name} ({quota} a month)"


def call_counters(
    terms: BillingTerms, *, agent_id: int | None, api_key_id: int, platform_paid: bool, now: datetime | None = None
) -> list[Counter]:
    """The counters a call draws on: its blocking budgets; the quota and credit balance when the platform pays."""
    now = now or timezone.now()
    zone = workspace_zone(terms.timezone)
    counters = []
    for budget in terms.budgets:
        if budget.scope == BudgetScope.AGENT and budget.agent_id != agent_id:
            continue
        if budget.scope == BudgetScope.API_KEY and budget.api_key_id != api_key_id:
            continue
        start, end = budget_window(period=budget.period, now=now, zone=zone)
        period = "daily" if budget.period == BudgetPeriod.DAILY else "monthly"
        whose = SCOPE_LABELS.get(budget.scope, budget.scope)
        counters.append(
            Counter(
                key=f"budget:{budget.id}:{start:%Y%m%d}",
                kind=BUDGET,
                limit=to_units(budget.limit_usd),
                expires_at=end.timestamp(),
                label=f"the {whose}'s {period} budget of {usd(budget.limit_usd)}",
                seed=(BUDGET, budget.id, start, end),
            )
        )
    if platform_paid and terms.quota_tokens is not None:
        start, end = budget_window(period=BudgetPeriod.MONTHLY, now=now, zone=zone)
        counters.append(
            Counter(
                key=f"quota:{start:%Y%m}",
                kind=QUOTA,
                limit=terms.quota_tokens,
                expires_at=end.timestamp(),
                label=f"the {terms.plan_name} plan's monthly quota of {terms.quota_tokens:,} tokens",
                soft=terms.overage_allowed,
                seed=(QUOTA, terms.workspace_id, start, end),
            )
        )
    if platform_paid and terms.prepaid:
        counters.append(
            Counter(
                key=CREDITS,
                kind=CREDITS,
                limit=0,
                expires_at=now.timestamp() + 30 * 86_400,
                label="the workspace's credit balance",
                seed=(CREDITS, terms.workspace_id),
            )
        )
    return counters


def call_rate_limits(terms: BillingTerms, *, api_key_id: int) -> list[RateLimit]:
    """The rate limits of a call: per API key and per workspace, requests and tokens per minute."""
    limits = [
        RateLimit(f"rpm:key:{api_key_id}", REQUESTS, terms.key_rpm, "API key"),
        RateLimit(f"tpm:key:{api_key_id}", TOKENS, terms.key_tpm, "API key"),
        RateLimit("rpm:workspace", REQUESTS, terms.workspace_rpm, "workspace"),
        RateLimit("tpm:workspace", TOKENS, terms.workspace_tpm, "workspace"),
    ]
    return [limit for limit in limits if limit.limit is not None]


def counter_seed(counter: Counter) -> tuple[int, int]:
    """(spent, credit) of a counter from the database: usage cost of a budget's window, platform-paid tokens of the
    quota's month, the ledger balance of a credit balance."""
    kind = counter.seed[0]
    if kind == BUDGET:
        _, budget_id, start, end = counter.seed
        budget = Budget.objects.get(pk=budget_id)
        return to_units(budget_spend_in_windows(budgets=[budget], windows={budget_id: (start, end)})[budget_id]), 0
    if kind == QUOTA:
        _, workspace_id, start, end = counter.seed
        total = UsageRecord.objects.filter(
            workspace_id=workspace_id, is_byok=False, created_at__gte=start, created_at__lt=end
        ).aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))["total"]
        return int(total or 0), 0
    _, workspace_id = counter.seed
    return 0, to_units(ledger_balance(workspace=workspace_id))
