from celery import shared_task

from apps.analytics.retention import usage_retention_purge


@shared_task(time_limit=3600, soft_time_limit=3500)
def usage_retention_purge_task() -> int:
    return usage_retention_purge()
