import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from .feeds import FeedFetchError
from .services import CatalogSyncError, catalog_sync, catalog_sync_sources

logger = logging.getLogger(__name__)

SYNC_LOCK_KEY = "catalog:sync:lock"
SYNC_TIME_LIMIT = 15 * 60


@shared_task(
    bind=True,
    time_limit=SYNC_TIME_LIMIT,
    soft_time_limit=SYNC_TIME_LIMIT - 60,
    max_retries=3,
    default_retry_delay=5 * 60,
)
def catalog_sync_task(self) -> dict:
    """Daily pricing sync: the live feeds when CATALOG_SYNC_SOURCE == "live", else the shipped snapshot.

    Returns {"status": "done", **SyncSummary.as_dict()}, or {"status": "locked", ...} when another run holds the lock.

    Network failures are retried; a feed that arrives but is unusable is not (it would fail the same way).
    Overlapping runs (beat plus a staff "Sync now") are skipped while one holds the lock.
    """
    if not cache.add(SYNC_LOCK_KEY, self.request.id or "eager", timeout=SYNC_TIME_LIMIT):
        logger.warning("catalog sync already running; skipped")
        return {"status": "locked", "detail": "another catalog sync is running"}
    try:
        litellm_source, openrouter_source = catalog_sync_sources(live=settings.CATALOG_SYNC_SOURCE == "live")
        summary = catalog_sync(litellm_source=litellm_source, openrouter_source=openrouter_source)
    except CatalogSyncError as exc:
        if isinstance(exc.__cause__, FeedFetchError) and not self.request.is_eager:
            raise self.retry(exc=exc) from exc
        raise
    finally:
        cache.delete(SYNC_LOCK_KEY)
    return {"status": "done", **summary.as_dict()}
