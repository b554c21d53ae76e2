from datetime import datetime

from django.db.models import QuerySet

from apps.analytics.models import AuditEvent


def audit_event_list(
    *,
    workspace,
    action: str | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """A workspace's audit events, newest first. `since` is inclusive, `until` exclusive."""
    events = AuditEvent.objects.filter(workspace=workspace).select_related("actor", "actor_api_key")
    if action:
        events = events.filter(action=action)
    if target_type:
        events = events.filter(target_type=target_type)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")
