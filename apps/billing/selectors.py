from decimal import Decimal

from django.db.models import QuerySet, Sum

from apps.billing.models import LedgerEntry


def ledger_balance(*, workspace) -> Decimal:
    total = LedgerEntry.objects.filter(workspace=workspace).aggregate(total=Sum("amount_usd"))["total"]
    return total if total is not None else Decimal("0")


def ledger_entry_list(*, workspace) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(workspace=workspace).select_related("created_by", "counterparty")
