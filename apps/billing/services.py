from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from apps.analytics.services import audit_event_record
from apps.billing.models import MONEY, LedgerEntry, LedgerKind, OverageRecord
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
