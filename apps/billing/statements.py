"""Monthly statements: what a workspace used, owed and paid in one calendar month of its own timezone.

`monthly_statement` reads everything in four queries whatever the data size (five when the workspace's plan is not
loaded yet): usage grouped by model, usage grouped by agent, the month's overage, the ledger grouped by kind. The
API, the CSV download and the marketplace page all show what it returns.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.billing.models import BudgetPeriod, LedgerEntry, LedgerKind, OverageRecord
from apps.billing.selectors import budget_window, workspace_zone
from apps.core.errors import ApplicationError

ZERO = Decimal("0")
# No statement before this month: keeps the month's bounds far from datetime's limits in any timezone.
EARLIEST_MONTH = date(2000, 1, 1)
MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class UsageFigures:
    """Requests, tokens and cost of a set of calls, split between the platform's keys and the customer's (BYOK)."""

    requests: int
    platform_requests: int
    prompt_tokens: int
    completion_tokens: int
    platform_tokens: int
    cost_usd: Decimal  # calls of unknown price add nothing
    platform_cost_usd: Decimal
    byok_cost_usd: Decimal
    unknown_price_requests: int

    @property
    def byok_requests(self) -> int:
        return self.requests - self.platform_requests

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def byok_tokens(self) -> int:
        return self.tokens - self.platform_tokens


@dataclass(frozen=True, slots=True)
class ModelUsage(UsageFigures):
    model: str  # the canonical id at the time of the call; empty when no model was reached


@dataclass(frozen=True, slots=True)
class AgentUsage(UsageFigures):
    agent_id: int | None  # None: calls made without an agent (or by one deleted since)
    agent_slug: str
    agent_name: str


@dataclass(frozen=True, slots=True)
class QuotaFigures:
    plan_name: str
    quota_tokens: int | None  # None: unlimited
    used_tokens: int  # prompt + completion tokens of the month's platform (non-BYOK) calls

    @property
    def unlimited(self) -> bool:
        return self.quota_tokens is None

    @property
    def remaining_tokens(self) -> int | None:
        return None if self.quota_tokens is None else max(self.quota_tokens - self.used_tokens, 0)

    @property
    def percent_used(self) -> Decimal | None:
        """Past 100 once the quota is exceeded; None when there is no quota to measure against."""
        if not self.quota_tokens:
            return None
        return (Decimal(self.used_tokens) * 100 / self.quota_tokens).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class OverageFigures:
    tokens: int
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class KindAmount:
    kind: str  # LedgerKind
    label: str
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class CreditFigures:
    opening_balance_usd: Decimal
    in_by_kind: tuple[KindAmount, ...]  # credit added in the month, by ledger kind
    out_by_kind: tuple[KindAmount, ...]  # credit spent in the month, by kind, as positive amounts

    @property
    def total_in_usd(self) -> Decimal:
        return sum((line.amount_usd for line in self.in_by_kind), ZERO)

    @property
    def total_out_usd(self) -> Decimal:
        return sum((line.amount_usd for line in self.out_by_kind), ZERO)

    @property
    def closing_balance_usd(self) -> Decimal:
        return self.opening_balance_usd + self.total_in_usd - self.total_out_usd


@dataclass(frozen=True, slots=True)
class Statement:
    workspace_slug: str
    workspace_name: str
    timezone: str
    billing_mode: str
    month: date  # the first day of the month
    period_start: datetime  # aware, in the workspace's timezone
    period_end: datetime
    in_progress: bool  # the month has not ended yet
    totals: UsageFigures
    by_model: tuple[ModelUsage, ...]  # most expensive first
    by_agent: tuple[AgentUsage, ...]
    quota: QuotaFigures
    overage: OverageFigures
    credits: CreditFigures

    @property
    def month_label(self) -> str:
        return f"{self.month:%Y-%m}"


def month_bounds(*, month: date, zone) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant, at local midnight in the zone."""
    return budget_window(period=BudgetPeriod.MONTHLY, now=datetime(month.year, month.month, 15, tzinfo=zone), zone=zone)


def statement_current_month(*, workspace, now: datetime | None = None) -> date:
    local = (now or timezone.now()).astimezone(workspace_zone(workspace.timezone))
    return date(local.year, local.month, 1)


def statement_month_parse(*, value: str, workspace, now: datetime | None = None) -> date:
    """A `YYYY-MM` month of the workspace's statements: 400 when malformed, 404 when it has not begun."""
    match = MONTH_PATTERN.fullmatch(value)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ApplicationError("The month must be given as YYYY-MM, e.g. 2026-03.", extra={"field": "month"})
    month = date(int(match[1]), int(match[2]), 1)
    if month < EARLIEST_MONTH:
        raise ApplicationError(f"The month must be {EARLIEST_MONTH:%Y-%m} or later.", extra={"field": "month"})
    if month > statement_current_month(workspace=workspace, now=now):
        raise ApplicationError(
            f"There is no statement for {value}: the month has not begun.",
            extra={"field": "month"},
            status=404,
            code="not_found",
        )
    return month


def statement_month_list(*, workspace, now: datetime | None = None) -> list[date]:
    """The months with usage, ledger entries or overage in the workspace's timezone, newest first (three queries)."""
    zone = workspace_zone(workspace.timezone)
    months: set[date] = set()
    for model in (UsageRecord, LedgerEntry):
        stamps = (
            model.objects.filter(workspace=workspace)
            .annotate(month=TruncMonth("created_at", tzinfo=zone))
            .order_by()
            .values_list("month", flat=True)
            .distinct()
        )
        months.update(stamp.astimezone(zone).date() for stamp in stamps)
    overage = OverageRecord.objects.filter(workspace=workspace).annotate(month=TruncMonth("period_start")).order_by()
    months.update(overage.values_list("month", flat=True).distinct())
    current = statement_current_month(workspace=workspace, now=now)
    return sorted((month for month in months if month <= current), reverse=True)


def _usage_sums() -> dict:
    """The aggregates of `UsageFigures`, named `sum_<field>`: an annotation named like a column would hide it."""
    platform = Q(is_byok=False)
    return {
        "sum_requests": Count("id"),
        "sum_platform_requests": Count("id", filter=platform),
        "sum_prompt_tokens": Sum("prompt_tokens"),
        "sum_completion_tokens": Sum("completion_tokens"),
        "sum_platform_tokens": Sum(F("prompt_tokens") + F("completion_tokens"), filter=platform),
        "sum_cost_usd": Sum("cost_usd"),
        "sum_platform_cost_usd": Sum("cost_usd", filter=platform),
        "sum_byok_cost_usd": Sum("cost_usd", filter=Q(is_byok=True)),
        "sum_unknown_price_requests": Count("id", filter=Q(price_unknown=True)),
    }


USAGE_FIELDS = tuple(f.name for f in fields(UsageFigures))
MONEY_FIELDS = frozenset({"cost_usd", "platform_cost_usd", "byok_cost_usd"})


def _zero(name: str) -> int | Decimal:
    return ZERO if name in MONEY_FIELDS else 0


def _usage_figures(row: dict) -> dict:
    """The figures of one grouped row; a sum of nothing (say, the cost of only unpriced calls) is NULL in SQL."""
    return {name: _zero(name) if row[f"sum_{name}"] is None else row[f"sum_{name}"] for name in USAGE_FIELDS}


def _by_cost(rows: Iterable[UsageFigures], label) -> tuple:
    return tuple(sorted(rows, key=lambda row: (-row.cost_usd, -row.requests, label(row))))


def _totals(rows: tuple[UsageFigures, ...]) -> UsageFigures:
    return UsageFigures(**{name: sum((getattr(row, name) for row in rows), _zero(name)) for name in USAGE_FIELDS})


def _credits(*, workspace, start: datetime, end: datetime) -> CreditFigures:
    rows = (
        LedgerEntry.objects.filter(workspace=workspace, created_at__lt=end)
        .values("kind")
        .annotate(
            before=Sum("amount_usd", filter=Q(created_at__lt=start)),
            added=Sum("amount_usd", filter=Q(created_at__gte=start, amount_usd__gt=0)),
            spent=Sum("amount_usd", filter=Q(created_at__gte=start, amount_usd__lt=0)),
        )
        .order_by()
    )
    by_kind = {row["kind"]: row for row in rows}
    kinds = [(kind, label) for kind, label in LedgerKind.choices if kind in by_kind]
    return CreditFigures(
        opening_balance_usd=sum((row["before"] or ZERO for row in by_kind.values()), ZERO),
        in_by_kind=tuple(
            KindAmount(kind=kind, label=str(label), amount_usd=by_kind[kind]["added"])
            for kind, label in kinds
            if by_kind[kind]["added"]
        ),
        out_by_kind=tuple(
            KindAmount(kind=kind, label=str(label), amount_usd=-by_kind[kind]["spent"])
            for kind, label in kinds
            if by_kind[kind]["spent"]
        ),
    )


def monthly_statement(*, workspace, month: date, now: datetime | None = None) -> Statement:
    """The workspace's statement of the calendar month (in its timezone) that `month` falls in."""
    zone = workspace_zone(workspace.timezone)
    start, end = month_bounds(month=month, zone=zone)
    usage = UsageRecord.objects.filter(workspace=workspace, created_at__gte=start, created_at__lt=end).order_by()

    by_model = _by_cost(
        (
            ModelUsage(model=row["model_name"], **_usage_figures(row))
            for row in usage.values("model_name").annotate(**_usage_sums())
        ),
        label=lambda row: row.model,
    )
    by_agent = _by_cost(
        (
            AgentUsage(
                agent_id=row["agent_id"],
                agent_slug=row["agent__slug"] or "",
                agent_name=row["agent__name"] or "",
                **_usage_figures(row),
            )
            for row in usage.values("agent_id", "agent__slug", "agent__name").annotate(**_usage_sums())
        ),
        label=lambda row: (row.agent_id is None, row.agent_slug),
    )
    totals = _totals(by_model)

    overage = OverageRecord.objects.filter(
        workspace=workspace, period_start__gte=start.date(), period_start__lt=end.date()
    ).aggregate(tokens=Sum("tokens"), amount=Sum("amount_usd"))

    plan = workspace.plan
    return Statement(
        workspace_slug=workspace.slug,
        workspace_name=workspace.name,
        timezone=str(zone.key),
        billing_mode=workspace.billing_mode,
        month=start.date(),
        period_start=start,
        period_end=end,
        in_progress=end > (now or timezone.now()),
        totals=totals,
        by_model=by_model,
        by_agent=by_agent,
        quota=QuotaFigures(
            plan_name=plan.name, quota_tokens=plan.monthly_token_quota, used_tokens=totals.platform_tokens
        ),
        overage=OverageFigures(tokens=overage["tokens"] or 0, amount_usd=overage["amount"] or ZERO),
        credits=_credits(workspace=workspace, start=start, end=end),
    )


def money_str(value: Decimal) -> str:
    """Exact, with at least the cents and no trailing zeros past them: 12.5 → "12.50", 0.0000420000 → "0.000042"."""
    if value == 0:
        return "0.00"
    whole, _, fraction = format(value.normalize(), "f").partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (names are chosen by users)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _usage_row(section: str, item: str, figures: UsageFigures) -> list:
    return [
        section,
        _text(item),
        figures.requests,
        figures.prompt_tokens,
        figures.completion_tokens,
        figures.tokens,
        money_str(figures.cost_usd),
        money_str(figures.platform_cost_usd),
        money_str(figures.byok_cost_usd),
        figures.unknown_price_requests,
    ]


USAGE_HEADER = [
    "Requests",
    "Prompt tokens",
    "Completion tokens",
    "Tokens",
    "Cost (USD)",
    "Platform cost (USD)",
    "BYOK cost (USD)",
    "Unknown-price calls",
]


def statement_csv(*, statement: Statement) -> str:
    """The statement as CSV: the first column names the section (Statement, Summary, Quota, Overage, By model,
    By agent, Credits), the second the line; each section starts with its own header row; money is exact."""
    totals, quota, credits = statement.totals, statement.quota, statement.credits
    rows: list[list] = [
        ["Section", "Item", "Value"],
        ["Statement", "Workspace", _text(statement.workspace_slug)],
        ["Statement", "Month", statement.month_label],
        ["Statement", "Period start", statement.period_start.isoformat()],
        ["Statement", "Period end", statement.period_end.isoformat()],
        ["Statement", "Timezone", statement.timezone],
        ["Statement", "Billing mode", statement.billing_mode],
        ["Statement", "In progress", "yes" if statement.in_progress else "no"],
        [],
        ["Summary", "Item", "Platform", "BYOK", "Total"],
        ["Summary", "Requests", totals.platform_requests, totals.byok_requests, totals.requests],
        ["Summary", "Tokens", totals.platform_tokens, totals.byok_tokens, totals.tokens],
        [
            "Summary",
            "Cost (USD)",
            money_str(totals.platform_cost_usd),
            money_str(totals.byok_cost_usd),
            money_str(totals.cost_usd),
        ],
        ["Summary", "Unknown-price calls", "", "", totals.unknown_price_requests],
        [],
        ["Quota", "Plan", _text(quota.plan_name)],
        ["Quota", "Monthly token quota", "unlimited" if quota.unlimited else quota.quota_tokens],
        ["Quota", "Used tokens", quota.used_tokens],
        ["Quota", "Remaining tokens", "" if quota.unlimited else quota.remaining_tokens],
        ["Quota", "Percent used", "" if quota.percent_used is None else str(quota.percent_used)],
        ["Overage", "Tokens", statement.overage.tokens],
        ["Overage", "Amount (USD)", money_str(statement.overage.amount_usd)],
        [],
        ["By model", "Model", *USAGE_HEADER],
        *(_usage_row("By model", row.model or "(no model)", row) for row in statement.by_model),
        [],
        ["By agent", "Agent", *USAGE_HEADER],
        *(_usage_row("By agent", row.agent_slug or "(no agent)", row) for row in statement.by_agent),
        [],
        ["Credits", "Item", "Amount (USD)"],
        ["Credits", "Opening balance", money_str(credits.opening_balance_usd)],
        *(["Credits", f"In: {line.label}", money_str(line.amount_usd)] for line in credits.in_by_kind),
        *(["Credits", f"Out: {line.label}", money_str(line.amount_usd)] for line in credits.out_by_kind),
        ["Credits", "Total in", money_str(credits.total_in_usd)],
        ["Credits", "Total out", money_str(credits.total_out_usd)],
        ["Credits", "Closing balance", money_str(credits.closing_balance_usd)],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def statement_csv_filename(*, statement: Statement) -> str:
    return f"switchyard-statement-{statement.workspace_slug}-{statement.month_label}.csv"
