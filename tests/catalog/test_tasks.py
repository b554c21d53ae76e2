import pytest
from django.core.cache import cache

from apps.catalog.models import Model
from apps.catalog.services import CatalogSyncError
from apps.catalog.tasks import SYNC_LOCK_KEY, catalog_sync_task

from .conftest import OPENROUTER_SMALL, litellm_feed

pytestmark = pytest.mark.django_db


def test_snapshot_mode_syncs_the_snapshot(settings, write_json):
    settings.CATALOG_SYNC_SOURCE = "snapshot"
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(litellm_feed())
    settings.CATALOG_OPENROUTER_SNAPSHOT = OPENROUTER_SMALL
    settings.CATALOG_LITELLM_URL = "http://127.0.0.1:9/never-fetched.json"
    summary = catalog_sync_task.delay().get()
    assert (summary["status"], summary["added"], summary["errors"]) == ("done", 27, [])
    assert cache.get(SYNC_LOCK_KEY) is None  # released


def test_live_mode_fetches_the_urls(settings, http_server, write_json):
    base_url, root = http_server
    (root / "prices.json").write_text(write_json(litellm_feed()).read_text())
    (root / "models.json").write_text(OPENROUTER_SMALL.read_text())
    settings.CATALOG_SYNC_SOURCE = "live"
    settings.CATALOG_LITELLM_URL = f"{base_url}/prices.json"
    settings.CATALOG_OPENROUTER_URL = f"{base_url}/models.json"
    summary = catalog_sync_task.delay().get()
    assert summary["added"] == 27
    assert Model.objects.filter(source="openrouter").exists()


def test_overlapping_run_is_skipped(settings, write_json):
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(litellm_feed())
    cache.add(SYNC_LOCK_KEY, "other-worker")
    assert catalog_sync_task.delay().get() == {"status": "locked", "detail": "another catalog sync is running"}
    assert Model.objects.count() == 0


def test_network_error_is_retried_on_a_worker(settings, monkeypatch):
    settings.CATALOG_SYNC_SOURCE = "live"
    settings.CATALOG_LITELLM_URL = "http://127.0.0.1:9/prices.json"
    settings.CATALOG_OPENROUTER_URL = ""
    retried = {}

    class Retry(Exception):
        pass

    def retry(exc=None, **kwargs):
        retried["exc"] = exc
        return Retry()

    monkeypatch.setattr(catalog_sync_task, "retry", retry)
    with pytest.raises(Retry):
        catalog_sync_task.run()  # as a worker runs it: not eager
    assert "could not fetch" in str(retried["exc"])
    assert cache.get(SYNC_LOCK_KEY) is None


def test_bad_feed_is_not_retried(settings, write_json, monkeypatch):
    settings.CATALOG_SYNC_SOURCE = "snapshot"
    settings.CATALOG_LITELLM_SNAPSHOT = write_json("not json")
    monkeypatch.setattr(catalog_sync_task, "retry", lambda **kwargs: pytest.fail("retried a bad feed"))
    with pytest.raises(CatalogSyncError, match="not valid JSON"):
        catalog_sync_task.run()
