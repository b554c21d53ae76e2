import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (local memory, or the test Redis database)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
