from celery import shared_task

from apps.analytics.rollups import usage_rollup_build
from apps.analytics.usage import usage_spool_ingest_orphans
from apps.catalog.services import catalog_popularity_refresh


@shared_task(time_limit=300, soft_time_limit=280)
def usage_spool_ingest_task() -> int:
    return usage_spool_ingest_orphans()


@shared_task(time_limit=30 * 60, soft_time_limit=28 * 60)
def usage_rollup_task() -> int:
    """Every USAGE_ROLLUP_INTERVAL_SECONDS (beat): fold newly ingested usage records into the hourly rollups; returns
    the rollup rows written. Idempotent; not retried (the next run picks up whatever this one did not).

    The catalog's "most used" order is read from the rollups, so it is refreshed with them."""
    rows = usage_rollup_build().rows
    catalog_popularity_refresh()
    return rows
