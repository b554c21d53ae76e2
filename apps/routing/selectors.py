"""Routing reads."""

from apps.analytics.models import ModelHealth


def model_latency_p50(*, model) -> int | None:
    """The model's median latency in the last health rollup, if it had traffic."""
    return ModelHealth.objects.filter(model=model).values_list("latency_p50_ms", flat=True).first()
