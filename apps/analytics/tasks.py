from celery import shared_task

from apps.analytics.usage import usage_spool_ingest_orphans


@shared_task(time_limit=300, soft_time_limit=280)
def usage_spool_ingest_task() -> int:
    return usage_spool_ingest_orphans()
