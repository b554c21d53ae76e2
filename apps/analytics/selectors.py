from decimal import Decimal

from django.db.models import QuerySet, Sum

from apps.analytics.models import ModelHealth, UsageRecord


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


def model_health_list(
    *, workspace, model_id: str | None = None, circuit_state: str | None = None
) -> QuerySet[ModelHealth]:
    """The last rolled-up health of the models installed in the workspace, by model id, with their provider."""
    health = (
        ModelHealth.objects.filter(model__installations__workspace=workspace)
        .select_related("model__provider")
        .order_by("model__model_id")
    )
    if model_id:
        health = health.filter(model__model_id=model_id)
    if circuit_state:
        health = health.filter(circuit_state=circuit_state)
    return health
