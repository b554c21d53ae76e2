from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from apps.billing.models import LedgerEntry


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
