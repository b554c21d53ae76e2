"""Usage retention: raw UsageRecords are kept for USAGE_RETENTION_DAYS, then deleted. Hourly UsageRollups, which
the dashboards read, are never touched, so totals for old periods stay as they were."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.analytics.models import UsageRecord

# Ids per DELETE: small enough that one statement holds its locks briefly, large enough that a big backlog goes fast.
RETENTION_BATCH_SIZE = 5000


def usage_retention_cutoff(*, days: int | None = None, now: datetime | None = None) -> datetime | None:
    """The time before which raw records go; None when retention is off (0 days)."""
    days = settings.USAGE_RETENTION_DAYS if days is None else days
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def usage_retention_purge(
    *, days: int | None = None, now: datetime | None = None, batch_size: int = RETENTION_BATCH_SIZE
) -> int:
    """Delete raw usage records older than the retention period, `batch_size` ids per DELETE; returns how many.

    Each batch is its own statement (and transaction, in autocommit), so gateway writes are never blocked for long
    and a run that stops halfway has still made progress."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = usage_retention_cutoff(days=days, now=now)
    if cutoff is None:
        return 0
    deleted = 0
    while True:
        ids = list(
            UsageRecord.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        count, _ = UsageRecord.objects.filter(id__in=ids).delete()
        deleted += count
