from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, models, transaction

from apps.analytics.services import audit_event_record
from apps.billing.models import (
    MONEY,
    Budget,
    BudgetAction,
    BudgetPeriod,
    BudgetScope,
    LedgerEntry,
    LedgerKind,
    OverageRecord,
    default_thresholds,
)
from apps.billing.selectors import workspace_zone
from apps.core.errors import ApplicationError
from apps.workspaces.models import Workspace

MAX_INTEGER_DIGITS = MONEY["max_digits"] - MONEY["decimal_places"]
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])
MILLION = Decimal(1_000_000)


def ledger_amount_parse(value, *, allow_negative: bool = False) -> Decimal:
    """A ledger amount as a Decimal: finite, non-zero, at most 8 decimals. Floats are refused (money is exact)."""
    if isinstance(value, bool | float):
        raise ApplicationError("The amount must be a decimal number.", extra={"field": "amount_usd"})
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ApplicationError("The amount must be a decimal number.", extra={"field": "amount_usd"}) from exc
    if not amount.is_finite():
        raise ApplicationError("The amount must be a decimal number.", extra={"field": "amount_usd"})
    if amount == 0 or (amount < 0 and not allow_negative):
        message = "The amount must not be zero." if allow_negative else "The amount must be positive."
        raise ApplicationError(message, extra={"field": "amount_usd"})
    if -amount.normalize().as_tuple().exponent > MONEY["decimal_places"]:
        raise ApplicationError(
            f"The amount has more than {MONEY['decimal_places']} decimal places.", extra={"field": "amount_usd"}
        )
    if abs(amount) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ApplicationError("The amount is too large.", extra={"field": "amount_usd"})
    return amount


def _ledger_add(
    *, workspace, kind: str, amount_usd: Decimal, description: str, created_by, idempotency_key: str | None
) -> LedgerEntry:
    if idempotency_key:
        existing = LedgerEntry.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _ledger_replay(existing, kind=kind, amount_usd=amount_usd)
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                workspace=workspace,
                kind=kind,
                amount_usd=amount_usd,
                description=description.strip()[:255],
                idempotency_key=idempotency_key or None,
                created_by=created_by,
            )
            audit_event_record(
                action=f"ledger.{kind}",
                workspace=workspace,
                actor=created_by,
                target=entry,
                data={"amount_usd": str(amount_usd), "description": entry.description},
            )
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        existing = LedgerEntry.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _ledger_replay(existing, kind=kind, amount_usd=amount_usd)
    return entry


def _ledger_replay(existing: LedgerEntry, *, kind: str, amount_usd: Decimal) -> LedgerEntry:
    if existing.kind != kind or existing.amount_usd != amount_usd:
        raise ApplicationError(
            "This idempotency key was already used for a different entry.", status=409, code="idempotency_conflict"
        )
    return existing


def ledger_topup(
    *,
    workspace,
    amount_usd: Decimal,
    description: str = "",
    created_by=None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Add credit. Repeating a call with the same idempotency key returns the first entry."""
    amount = ledger_amount_parse(amount_usd)
    return _ledger_add(
        workspace=workspace,
        kind=LedgerKind.TOPUP,
        amount_usd=amount,
        description=description or "Top-up",
        created_by=created_by,
        idempotency_key=idempotency_key,
    )


def ledger_correction(
    *,
    workspace,
    amount_usd: Decimal,
    description: str,
    created_by=None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Correct the balance with a signed amount; entries are never edited, so this is how mistakes are undone."""
    amount = ledger_amount_parse(amount_usd, allow_negative=True)
    if not description or not description.strip():
        raise ApplicationError("A correction needs a description saying why.", extra={"field": "description"})
    return _ledger_add(
        workspace=workspace,
        kind=LedgerKind.ADJUSTMENT,
        amount_usd=amount,
        description=description,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )


def budget_validate_target(*, workspace, agent=None, api_key=None) -> None:
    """A budget's agent or API key must belong to the budget's workspace."""
    if agent is not None and agent.workspace_id != workspace.pk:
        raise ApplicationError("The agent belongs to another workspace.", extra={"field": "agent"})
    if api_key is not None and api_key.workspace_id != workspace.pk:
        raise ApplicationError("The API key belongs to another workspace.", extra={"field": "api_key"})


def overage_records_from_usage(*, records: list[dict]) -> int:
    """OverageRecords for the usage records (spool dicts) that went past their plan's quota, priced at the plan's
    overage price; idempotent (one per generation id). Returns how many records had overage."""
    over = [r for r in records if r.get("overage_tokens")]
    if not over:
        return 0
    workspaces = Workspace.objects.select_related("plan").in_bulk({r["workspace_id"] for r in over})
    rows = []
    for record in over:
        workspace = workspaces.get(record["workspace_id"])
        if workspace is None:
            continue
        plan, tokens = workspace.plan, record["overage_tokens"]
        price = plan.overage_price_per_million or Decimal("0")
        created = datetime.fromisoformat(record["created_at"])
        local = created.astimezone(workspace_zone(workspace.timezone))
        rows.append(
            OverageRecord(
                workspace=workspace,
                plan=plan,
                period_start=local.date().replace(day=1),
                tokens=tokens,
                amount_usd=(price * tokens / MILLION).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP),
                generation_id=record["generation_id"],
            )
        )
    OverageRecord.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def budget_thresholds_normalize(values) -> list[int]:
    """Alert thresholds as sorted, unique whole percentages from 1 to 100."""
    if not isinstance(values, list | tuple):
        raise ApplicationError("Alert thresholds are a list of percentages.", extra={"field": "alert_thresholds"})
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ApplicationError(
                "Each alert threshold is a whole percentage from 1 to 100.", extra={"field": "alert_thresholds"}
            )
    return sorted(set(values))


def _budget_limit(value) -> Decimal:
    if isinstance(value, bool | float):
        raise ApplicationError("The limit must be a decimal number.", extra={"field": "limit_usd"})
    try:
        limit = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ApplicationError("The limit must be a decimal number.", extra={"field": "limit_usd"}) from exc
    if not limit.is_finite():
        raise ApplicationError("The limit must be a decimal number.", extra={"field": "limit_usd"})
    if limit < 0:
        raise ApplicationError("The limit must not be negative.", extra={"field": "limit_usd"})
    if -limit.normalize().as_tuple().exponent > MONEY["decimal_places"] or limit >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ApplicationError(
            f"The limit must be under 10^{MAX_INTEGER_DIGITS} with at most {MONEY['decimal_places']} decimals.",
            extra={"field": "limit_usd"},
        )
    return limit


def _budget_target_check(*, workspace, scope: str, agent, api_key) -> None:
    """The scope names its target and no other: an agent budget has an agent, an API key budget a key."""
    if scope not in BudgetScope.values:
        raise ApplicationError(f"The scope must be one of {', '.join(BudgetScope.values)}.", extra={"field": "scope"})
    if scope == BudgetScope.AGENT and agent is None:
        raise ApplicationError("Name the agent of an agent budget.", extra={"field": "agent"})
    if scope != BudgetScope.AGENT and agent is not None:
        raise ApplicationError("An agent is given only with the scope 'agent'.", extra={"field": "agent"})
    if scope == BudgetScope.API_KEY and api_key is None:
        raise ApplicationError("Name the API key of an API key budget.", extra={"field": "api_key"})
    if scope != BudgetScope.API_KEY and api_key is not None:
        raise ApplicationError("An API key is given only with the scope 'api_key'.", extra={"field": "api_key"})
    budget_validate_target(workspace=workspace, agent=agent, api_key=api_key)


def _budget_choice(value: str, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        raise ApplicationError(f"The {field} must be one of {', '.join(choices.values)}.", extra={"field": field})
    return value


def _budget_audit_data(budget: Budget) -> dict:
    # Target ids under *_id names: the audit log drops keys that look like secrets, such as "api_key".
    return {
        "scope": budget.scope,
        "agent_id": budget.agent_id,
        "api_key_id": budget.api_key_id,
        "period": budget.period,
        "limit_usd": budget.limit_usd,
        "action": budget.action,
        "alert_thresholds": budget.alert_thresholds,
        "is_active": budget.is_active,
    }


@transaction.atomic
def budget_create(
    *,
    workspace,
    limit_usd,
    scope: str = BudgetScope.WORKSPACE,
    agent=None,
    api_key=None,
    period: str = BudgetPeriod.MONTHLY,
    action: str = BudgetAction.BLOCK,
    alert_thresholds: list[int] | None = None,
    is_active: bool = True,
    created_by=None,
) -> Budget:
    _budget_target_check(workspace=workspace, scope=scope, agent=agent, api_key=api_key)
    budget = Budget.objects.create(
        workspace=workspace,
        scope=scope,
        agent=agent,
        api_key=api_key,
        period=_budget_choice(period, BudgetPeriod, "period"),
        limit_usd=_budget_limit(limit_usd),
        action=_budget_choice(action, BudgetAction, "action"),
        alert_thresholds=budget_thresholds_normalize(
            default_thresholds() if alert_thresholds is None else alert_thresholds
        ),
        is_active=bool(is_active),
    )
    audit_event_record(
        action="budget.created", workspace=workspace, actor=created_by, target=budget, data=_budget_audit_data(budget)
    )
    return budget


BUDGET_UPDATE_FIELDS = frozenset(
    {"scope", "agent", "api_key", "period", "limit_usd", "action", "alert_thresholds", "is_active"}
)


@transaction.atomic
def budget_update(*, budget: Budget, data: dict, updated_by=None) -> Budget:
    """Change some of a budget's fields. Changing the scope drops the old target; a new agent or key must be named.

    Spend already counted stays counted; alerts already sent in this window are not sent again.
    """
    unknown = set(data) - BUDGET_UPDATE_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown budget fields: {', '.join(sorted(unknown))}.")
    scope = data.get("scope", budget.scope)
    agent = data.get("agent", budget.agent if scope == BudgetScope.AGENT else None)
    api_key = data.get("api_key", budget.api_key if scope == BudgetScope.API_KEY else None)
    _budget_target_check(workspace=budget.workspace, scope=scope, agent=agent, api_key=api_key)
    before = _budget_audit_data(budget)
    budget.scope, budget.agent, budget.api_key = scope, agent, api_key
    if "period" in data:
        budget.period = _budget_choice(data["period"], BudgetPeriod, "period")
    if "limit_usd" in data:
        budget.limit_usd = _budget_limit(data["limit_usd"])
    if "action" in data:
        budget.action = _budget_choice(data["action"], BudgetAction, "action")
    if "alert_thresholds" in data:
        budget.alert_thresholds = budget_thresholds_normalize(data["alert_thresholds"])
    if "is_active" in data:
        budget.is_active = bool(data["is_active"])
    after = _budget_audit_data(budget)
    changes = {name: {"from": before[name], "to": after[name]} for name in after if before[name] != after[name]}
    if changes:
        budget.save()
        audit_event_record(
            action="budget.updated",
            workspace=budget.workspace,
            actor=updated_by,
            target=budget,
            data={"changes": changes},
        )
    return budget


@transaction.atomic
def budget_delete(*, budget: Budget, deleted_by=None) -> None:
    audit_event_record(
        action="budget.deleted",
        workspace=budget.workspace,
        actor=deleted_by,
        target=budget,
        data=_budget_audit_data(budget),
    )
    budget.delete()
