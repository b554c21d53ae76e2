import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, models, transaction

from apps.analytics.selectors import usage_record_get
from apps.analytics.services import audit_event_record
from apps.billing import admission
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
from apps.billing.selectors import ledger_balance, workspace_zone
from apps.core.errors import ApplicationError
from apps.workspaces.models import BillingMode, Workspace

MAX_INTEGER_DIGITS = MONEY["max_digits"] - MONEY["decimal_places"]
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])
MILLION = Decimal(1_000_000)
# Room for the prefixes the ledger puts in front of a caller's key ("transfer:") within the 128-character column.
IDEMPOTENCY_KEY_MAX_LENGTH = 100
TRANSFER_KEY_PREFIX = "transfer:"
CHARGE_KEY_PREFIX = "charge:"


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


def idempotency_key_clean(value) -> str:
    """A caller's idempotency key, taken literally: 1 to 100 visible ASCII characters (a UUID, an event id…)."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX_LENGTH
        or not all("!" <= ch <= "~" for ch in value)
    ):
        raise ApplicationError(
            f"The Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters.",
            extra={"field": "idempotency_key"},
        )
    return value


def _idempotency_key_reused() -> ApplicationError:
    return ApplicationError(
        "This Idempotency-Key was already used for a different request; send a new key for a new request.",
        code="idempotency_key_reused",
        extra={"field": "idempotency_key"},
    )


def _entry_description(description: str | None) -> str:
    """What the ledger keeps of a description, so a repeated request compares equal to the first."""
    return (description or "").strip()[:255]


def ledger_idempotent_entry(
    *, workspace, idempotency_key: str, kind: str, amount_usd: Decimal, description: str, generation_id: str = ""
) -> LedgerEntry | None:
    """The entry this key already wrote in the workspace if the request repeats it exactly, else None when the key
    is new. A key reused for a different entry is refused (400 `idempotency_key_reused`)."""
    existing = LedgerEntry.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    asked = (kind, amount_usd, _entry_description(description), generation_id)
    if (existing.kind, existing.amount_usd, existing.description, existing.generation_id) != asked:
        raise _idempotency_key_reused()
    return existing


def _credits_changed_on_commit(*, workspace_id: int, amount_usd: Decimal) -> None:
    """Tell the admission counters once the change is committed; a rolled-back change never happened. A failure
    there is logged, not raised: the ledger is the truth and the entry is already written."""
    transaction.on_commit(
        lambda: admission.credits_changed(workspace_id=workspace_id, amount_usd=amount_usd), robust=True
    )


def _ledger_add(
    *,
    workspace,
    kind: str,
    amount_usd: Decimal,
    description: str,
    created_by,
    idempotency_key: str | None,
    generation_id: str = "",
) -> LedgerEntry:
    description = _entry_description(description)
    request = {"kind": kind, "amount_usd": amount_usd, "description": description, "generation_id": generation_id}
    if idempotency_key:
        idempotency_key_clean(idempotency_key)
        existing = ledger_idempotent_entry(workspace=workspace, idempotency_key=idempotency_key, **request)
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                workspace=workspace, idempotency_key=idempotency_key or None, created_by=created_by, **request
            )
            data = {"amount_usd": str(amount_usd), "description": description}
            if generation_id:
                data["generation_id"] = generation_id
            audit_event_record(action=f"ledger.{kind}", workspace=workspace, actor=created_by, target=entry, data=data)
            _credits_changed_on_commit(workspace_id=workspace.pk, amount_usd=amount_usd)
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        existing = (
            ledger_idempotent_entry(workspace=workspace, idempotency_key=idempotency_key, **request)
            if idempotency_key
            else None
        )
        if existing is None:
            raise
        return existing
    return entry


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


def ledger_refund_generation_validate(*, workspace, generation_id: str) -> None:
    """A refund may name the request it refunds: one of the workspace's own."""
    if len(generation_id) > 64 or usage_record_get(workspace=workspace, generation_id=generation_id) is None:
        raise ApplicationError(
            f"No request with the generation id '{generation_id[:64]}' in this workspace.",
            extra={"field": "generation_id"},
        )


def ledger_refund(
    *,
    workspace,
    amount_usd: Decimal,
    description: str = "",
    generation_id: str | None = None,
    created_by=None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Give credit back (a failed request, a goodwill gesture), optionally for one request of the workspace.
    Repeating a call with the same idempotency key returns the first entry."""
    amount = ledger_amount_parse(amount_usd)
    generation_id = (generation_id or "").strip()
    if generation_id:
        ledger_refund_generation_validate(workspace=workspace, generation_id=generation_id)
    return _ledger_add(
        workspace=workspace,
        kind=LedgerKind.REFUND,
        amount_usd=amount,
        description=description or (f"Refund of {generation_id}" if generation_id else "Refund"),
        created_by=created_by,
        idempotency_key=idempotency_key,
        generation_id=generation_id,
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


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    transfer_id: uuid.UUID
    outgoing: LedgerEntry  # the payer's entry, negative
    incoming: LedgerEntry  # the payee's entry, positive
    payer_balance: Decimal  # right after the transfer; for a repeated request, now


def _transfer_payee(*, payer, payee_slug_or_id: str | int) -> Workspace:
    if isinstance(payee_slug_or_id, int) and not isinstance(payee_slug_or_id, bool):
        payee = Workspace.objects.filter(pk=payee_slug_or_id).first()
    else:
        payee = Workspace.objects.filter(slug=str(payee_slug_or_id).strip()).first()
    if payee is None:
        # The same answer as for a deactivated workspace: the caller learns only that it cannot pay there.
        raise ApplicationError(f"No active workspace '{payee_slug_or_id}' to pay.", extra={"field": "to"})
    if payee.pk == payer.pk:
        raise ApplicationError("A workspace cannot transfer credits to itself.", extra={"field": "to"})
    return payee


def _transfer_replay(*, payer, payee, key: str, amount: Decimal, description: str) -> CreditTransfer | None:
    """The transfer this key already made if the request repeats it exactly; None when the key is new."""
    outgoing = LedgerEntry.objects.filter(workspace=payer, idempotency_key=key).first()
    if outgoing is None:
        return None
    asked = (LedgerKind.TRANSFER_OUT, payee.pk, -amount, description)
    if (outgoing.kind, outgoing.counterparty_id, outgoing.amount_usd, outgoing.description) != asked:
        raise _idempotency_key_reused()
    incoming = LedgerEntry.objects.get(transfer_id=outgoing.transfer_id, kind=LedgerKind.TRANSFER_IN)
    return CreditTransfer(outgoing.transfer_id, outgoing, incoming, ledger_balance(workspace=payer))


def credit_transfer(
    *,
    payer,
    payee_slug_or_id: str | int,
    amount_usd,
    description: str = "",
    idempotency_key: str,
    created_by=None,
    agent=None,
    api_key=None,
) -> CreditTransfer:
    """Move credits from the payer's workspace to another (an agent paying another for work): a TRANSFER_OUT on the
    payer and a TRANSFER_IN on the payee with one transfer id, in one transaction.

    The same idempotency key with the same request returns the first transfer; with another, 400. The payer's
    workspace row is locked while its balance is checked and the entries written, so concurrent transfers of one
    payer run one after the other and together cannot overdraw it (SQLite serialises writers anyway).
    """
    amount = ledger_amount_parse(amount_usd)
    key = TRANSFER_KEY_PREFIX + idempotency_key_clean(idempotency_key)
    description = _entry_description(description)
    payee = _transfer_payee(payer=payer, payee_slug_or_id=payee_slug_or_id)
    # A repeat answers even if the payee was deactivated or the balance spent since.
    replay = _transfer_replay(payer=payer, payee=payee, key=key, amount=amount, description=description)
    if replay is not None:
        return replay
    if not payee.is_active:
        raise ApplicationError(f"No active workspace '{payee_slug_or_id}' to pay.", extra={"field": "to"})
    with transaction.atomic():
        # FOR NO KEY UPDATE: exclusive among transfers of this payer, yet rows referencing it can still be inserted.
        list(Workspace.objects.select_for_update(no_key=True).filter(pk=payer.pk).values_list("pk"))
        # A concurrent request with the same key may have committed while this one waited for the lock.
        replay = _transfer_replay(payer=payer, payee=payee, key=key, amount=amount, description=description)
        if replay is not None:
            return replay
        balance = ledger_balance(workspace=payer)
        if balance < amount:
            raise ApplicationError(
                f"The balance (${_plain(balance)}) does not cover this transfer of ${_plain(amount)}.",
                status=402,
                code="insufficient_credits",
                extra={"balance_usd": _plain(balance), "amount_usd": _plain(amount)},
            )
        transfer_id = uuid.uuid4()
        common = {"transfer_id": transfer_id, "description": description, "created_by": created_by}
        outgoing = LedgerEntry.objects.create(
            workspace=payer,
            kind=LedgerKind.TRANSFER_OUT,
            amount_usd=-amount,
            counterparty=payee,
            idempotency_key=key,
            **common,
        )
        incoming = LedgerEntry.objects.create(
            workspace=payee, kind=LedgerKind.TRANSFER_IN, amount_usd=amount, counterparty=payer, **common
        )
        data = {"amount_usd": _plain(amount), "transfer_id": str(transfer_id), "description": description}
        audit_event_record(
            action="ledger.transfer_out",
            workspace=payer,
            actor=created_by,
            actor_api_key=api_key,
            target=outgoing,
            data={**data, "to": payee.slug, "agent": agent.slug if agent is not None else None},
        )
        # The payee's log names the paying workspace, not its members or keys.
        audit_event_record(
            action="ledger.transfer_in", workspace=payee, target=incoming, data={**data, "from": payer.slug}
        )
        _credits_changed_on_commit(workspace_id=payer.pk, amount_usd=-amount)
        _credits_changed_on_commit(workspace_id=payee.pk, amount_usd=amount)
    return CreditTransfer(transfer_id, outgoing, incoming, balance - amount)


def _plain(amount: Decimal) -> str:
    """12.50000000 → "12.5": for messages."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def ledger_usage_charges_record(*, records: list[dict]) -> int:
    """Charge prepaid workspaces for their requests, given as usage spool records; returns how many were new.

    One CHARGE per record that is not BYOK (the caller paid the provider), has a known non-zero cost, and whose
    workspace is on prepaid credits; the cost is rounded half-up to the ledger's 8 decimals. Idempotent: the key
    `charge:<generation id>` is unique per workspace, so a batch ingested twice charges once.
    """
    billable = [r for r in records if not r.get("is_byok") and r.get("cost_usd") is not None and r.get("workspace_id")]
    if not billable:
        return 0
    prepaid = set(
        Workspace.objects.filter(
            pk__in={r["workspace_id"] for r in billable}, billing_mode=BillingMode.PREPAID
        ).values_list("pk", flat=True)
    )
    charges = []
    for record in billable:
        if record["workspace_id"] not in prepaid:
            continue
        cost = Decimal(str(record["cost_usd"])).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)
        if cost <= 0:
            continue  # free, or below half a hundred-millionth of a dollar
        model = record.get("model_name") or record.get("requested_model") or "request"
        charges.append(
            LedgerEntry(
                workspace_id=record["workspace_id"],
                kind=LedgerKind.CHARGE,
                amount_usd=-cost,
                description=f"Usage: {model}"[:255],
                idempotency_key=CHARGE_KEY_PREFIX + record["generation_id"],
                generation_id=record["generation_id"],
            )
        )
    if not charges:
        return 0
    keys = {charge.idempotency_key for charge in charges}
    written = LedgerEntry.objects.filter(kind=LedgerKind.CHARGE, idempotency_key__in=keys)
    before = written.count()
    LedgerEntry.objects.bulk_create(charges, ignore_conflicts=True, batch_size=1000)
    return written.count() - before


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
