from decimal import Decimal

from django.db.models import Sum

from apps.analytics.models import UsageRecord


def usage_record_get(*, workspace, generation_id: str) -> UsageRecord | None:
    """One request of the workspace by its generation id, with the key and agent it came through."""
    return (
        UsageRecord.objects.filter(workspace=workspace, generation_id=generation_id)
        .select_related("api_key", "agent")
        .first()
    )


def usage_cost_total(*, workspace) -> Decimal:
    """What the workspace's requests have cost so far; requests of unknown price add nothing."""
    total = UsageRecord.objects.filter(workspace=workspace).aggregate(total=Sum("cost_usd"))["total"]
    return total if total is not None else Decimal("0")
