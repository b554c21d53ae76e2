"""Billing's Celery tasks; each is also a management command, so the embedded mode can run it by hand."""

from celery import shared_task

from apps.billing.alerts import budget_alerts_check


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def budget_alerts_check_task(workspace_ids: list[int] | None = None) -> int:
    """Every BUDGET_ALERT_CHECK_SECONDS (beat): send the budget alerts newly due; returns how many went out.

    Idempotent (each threshold's row is claimed once per window) and not retried: the next run is a minute away."""
    return budget_alerts_check(workspace_ids=workspace_ids)
