from datetime import datetime

from django.db.models import QuerySet

from apps.analytics.models import AuditEvent


def audit_event_list(
    *,
    workspace,
    action: str | None = None,
    actor_id: int | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """A workspace's audit events, newest first. `since` is inclusive, `until` exclusive."""
    events = AuditEvent.objects.filter(workspace=workspace).select_related("actor", "actor_api_key")
    if action:
        events = events.filter(action=action)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if target_type:
        events = events.filter(target_type=target_type)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")


def audit_action_list(*, workspace) -> list[str]:
    """The actions the workspace's trail holds, for a filter's choices."""
    actions = AuditEvent.objects.filter(workspace=workspace).order_by("action").values_list("action", flat=True)
    return list(actions.distinct())


def audit_actor_list(*, workspace) -> list[tuple[int, str]]:
    """The members who acted in the workspace (id, username), for a filter's choices."""
    actors = (
        AuditEvent.objects.filter(workspace=workspace, actor__isnull=False)
        .order_by("actor__username")
        .values_list("actor_id", "actor__username")
    )
    return list(actors.distinct())
